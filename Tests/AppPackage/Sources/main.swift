import Foundation
import SatchelClient

// What an app does first, offline: open a device store, write a note, find it again.
let directory = NSTemporaryDirectory() + "field-app-\(UUID().uuidString)"
defer { try? FileManager.default.removeItem(atPath: directory) }
let client = try SatchelClient(directory: directory)
try await client.setCredentials(url: "http://127.0.0.1:9", device: "d-field-app", user: "ana", token: "sat_field_app")
let key = try await client.createNote(space: "mission", title: "Z-Park visit", body: "Met the incubator team", tags: ["beijing"])
let hits = try await client.search("incubator")
guard hits.first?.key == key else {
    FileHandle.standardError.write(Data("field-app: the note just written was not found\n".utf8))
    exit(1)
}
await client.close()
print("field-app: SatchelClient wrote a note and found it offline")
