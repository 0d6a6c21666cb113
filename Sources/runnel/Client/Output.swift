import Foundation
import RunnelJSON

/// Tables for people and JSON for scripts, written to standard output.
enum Output {
    /// Columns padded to their widest cell; the header in capitals, as Kafka's tools print.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                if index == cells.count - 1 {
                    text += cell
                } else {
                    text += cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
                }
            }
            return text
        }
        return ([line(headers.map { $0.uppercased() })] + rows.map(line)).joined(separator: "\n")
    }

    static func print(_ text: String) {
        Swift.print(text)
    }

    /// A list: a table of the rows' cells, or (`--output json`) an array of objects keyed by the headers.
    static func printRows(_ headers: [String], _ rows: [[JSONValue]], as format: OutputFormat) {
        switch format {
        case .json: printJSON(objects(headers, rows))
        case .table: printTable(headers, rows.map { $0.map(\.cell) })
        }
    }

    static func printTable(_ headers: [String], _ rows: [[String]]) {
        Swift.print(table(headers, rows))
    }

    /// Rows as JSON objects keyed by the headers (lowercased, snake_case), for `--output json`.
    static func objects(_ headers: [String], _ rows: [[JSONValue]]) -> JSONValue {
        let keys = headers.map {
            $0.lowercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
        }
        return .array(rows.map { row in .object(Array(zip(keys, row))) })
    }

    static func printJSON(_ value: JSONValue) {
        var text = ""
        pretty(value, indent: 0, into: &text)
        Swift.print(text)
    }

    static func pretty(_ value: JSONValue, indent: Int, into text: inout String) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closing = String(repeating: "  ", count: indent)
        switch value {
        case .array(let elements) where !elements.isEmpty:
            text += "[\n"
            for (index, element) in elements.enumerated() {
                text += pad
                pretty(element, indent: indent + 1, into: &text)
                text += index == elements.count - 1 ? "\n" : ",\n"
            }
            text += closing + "]"
        case .object(let members) where !members.isEmpty:
            text += "{\n"
            for (index, member) in members.enumerated() {
                text += pad + JSONValue.string(member.0).text + ": "
                pretty(member.1, indent: indent + 1, into: &text)
                text += index == members.count - 1 ? "\n" : ",\n"
            }
            text += closing + "}"
        default:
            text += value.text
        }
    }

    /// A line on standard error (progress, summaries: never mixed with the data on standard output).
    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

extension JSONValue {
    /// A cell of a table: strings bare, null as "-", anything else as JSON.
    var cell: String {
        switch self {
        case .string(let text): text
        case .null: "-"
        case .number(let text): text
        case .bool(let flag): String(flag)
        default: self.text
        }
    }
}
