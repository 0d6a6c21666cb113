import FuzzDriver
import NIOCore
import RunnelJSON

/// libFuzzer entry: the JSON reader produce requests go through (whole documents, and the value boundaries the
/// streaming v3 produce finds in a body that is still arriving). Any trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? JSONValue.parse(ByteBuffer(bytes: bytes))
    var position = 0
    while position < size, let end = JSONReader.endOfValue(in: bytes, from: position), end > position {
        position = end
    }
    return 0
}

@_cdecl("FuzzJSON_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
