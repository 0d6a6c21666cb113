import NIOCore
import RunnelLog

/// libFuzzer entry: the bytes are read as a reader of a segment or a produce request would: split into batches,
/// validated, every record decoded. Any trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    for allowPartial in [true, false] {
        guard let batches = try? RecordBatch.split(buffer, allowTrailingPartial: allowPartial) else { continue }
        for batch in batches {
            _ = try? batch.validate()
            _ = try? batch.records(maxUncompressedBytes: 1 << 20)
        }
    }
    _ = try? RecordBatch(bytes: buffer).records(maxUncompressedBytes: 1 << 20)
    return 0
}

/// SwiftPM links an executable's `main` to `FuzzRecordBatch_main`: start libFuzzer's driver from there.
@_cdecl("FuzzRecordBatch_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzz)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
