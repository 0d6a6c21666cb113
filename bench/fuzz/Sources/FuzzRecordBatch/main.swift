import FuzzDriver
import NIOCore
import RunnelRecords

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

@_cdecl("FuzzRecordBatch_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
