/// The HTTP status of every error code the server answers with: the one place a code becomes a
/// status, whichever layer raised it (`APIError`, `StoreError`, `FrameError`, `Rejection`), so
/// a code gets the same status on every route. PROTOCOL.md §14.1 and openapi.yaml document
/// the same table; `ErrorStatusTests` holds them to it.
enum ErrorStatus {
    /// Codes not listed are the client's mistake and get 400: malformed requests and frames,
    /// values and identifiers the schema refuses (every `Rejection` code), and the store codes
    /// only local commands raise today (`space_exists`, `restore_refused`…).
    static let `default` = 400

    static func of(_ code: String) -> Int {
        switch code {
        case "token_missing", "token_invalid", "token_revoked", "user_disabled",
            "operator_token_missing", "operator_token_invalid", "enrollment_invalid":
            401
        case "space_forbidden":
            403
        // An id that names nothing is an unknown resource, on the admin API and everywhere else.
        case "unknown_device", "unknown_user", "unknown_space":
            404
        case "enrollment_used":
            409
        case "enrollment_expired", "cursor_expired":
            410
        case "request_too_large", "too_many_mutations", "frame_too_large", "frame_decompression_bomb":
            413
        case "unsupported_protocol_version":
            426
        // The server's own trouble: the client did nothing wrong and may retry later.
        case "internal_error", "backup_failed":
            500
        case "store_closed":
            503
        case "insufficient_storage":
            507
        default:
            Self.default
        }
    }
}
