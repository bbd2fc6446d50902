import CurlHTTP
import Foundation

/// The control endpoints of the test services (`POST /__control`, `GET /__requests`) over JSON.
public enum Control {
    /// POSTs `json` to `url` and returns the answer's body; throws ``ControlError`` on a non-2xx status.
    @discardableResult
    public static func post(_ url: String, json: Any = [String: Any]()) throws -> [UInt8] {
        let body = try JSONSerialization.data(withJSONObject: json)
        let response = try HTTPClient().perform(HTTPRequest(
            method: .post, url: url, headers: [("Content-Type", "application/json")],
            body: Array(body), timeout: .seconds(30)))
        guard (200..<300).contains(response.status) else {
            throw ControlError(url: url, status: response.status, body: response.bodyText)
        }
        return response.body
    }

    /// GETs `url` and parses its JSON answer; throws ``ControlError`` unless the status is 200.
    public static func getJSON(_ url: String) throws -> Any {
        let response = try HTTPClient().perform(HTTPRequest(method: .get, url: url, timeout: .seconds(30)))
        guard response.status == 200 else {
            throw ControlError(url: url, status: response.status, body: response.bodyText)
        }
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }
}

public struct ControlError: Error, CustomStringConvertible {
    public var url: String
    public var status: Int
    public var body: String
    public var description: String { "control request \(url) answered \(status): \(body)" }
}
