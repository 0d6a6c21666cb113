public import Logging

/// A logger for code under test: only critical messages, so test output stays readable.
public let quietLogger: Logger = {
    var logger = Logger(label: "runnel-tests")
    logger.logLevel = .critical
    return logger
}()
