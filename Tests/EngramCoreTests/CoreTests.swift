import EngramCore
import Foundation
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2026-01-28T02:26:30.123456Z", Int64(1_769_567_190_123_456)),
        ("1970-01-01T00:00:00.000000Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2000-02-29T12:00:00.000001Z", 951_825_600_000_001),
        ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
    ])
    func formatsAndParsesExactly(text: String, micros: Int64) {
        #expect(Timestamp(microsecondsSinceEpoch: micros).rfc3339 == text)
        #expect(Timestamp(rfc3339: text)?.microsecondsSinceEpoch == micros)
    }

    @Test func acceptsOffsetsAndShortFractions() {
        #expect(Timestamp(rfc3339: "2026-01-28T03:26:30.5+01:00") == Timestamp(rfc3339: "2026-01-28T02:26:30.500000Z"))
        #expect(Timestamp(rfc3339: "2026-01-28T02:26:30Z")?.microsecondsSinceEpoch == 1_769_567_190_000_000)
        #expect(Timestamp(rfc3339: "2026-01-28T02:26:30.1234560Z")?.microsecondsSinceEpoch == 1_769_567_190_123_456)
    }

    @Test(arguments: ["", "2026-01-28", "2026-13-01T00:00:00Z", "2026-01-28T02:26:30.1234567Z", "2026-01-28T02:26:30", "2026-01-28T02:26:30.Z", "x026-01-28T02:26:30Z"])
    func rejectsMalformed(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func dateConversionRoundsToMicroseconds() {
        let d = Date(timeIntervalSince1970: 1.0000004)
        #expect(Timestamp(d).microsecondsSinceEpoch == 1_000_000)
        #expect(Timestamp(microsecondsSinceEpoch: 1_500_000).date.timeIntervalSince1970 == 1.5)
    }
}

@Suite struct JSONValueTests {
    @Test func roundTripsThroughText() throws {
        let value = JSONValue.object([
            "a": .array([.int(1), .double(1.5), .null, .bool(true), .string("x\"y\\z\n\u{1}é🙂")]),
            "big": .int(Int64.max), "neg": .int(Int64.min), "obj": .object(["": .string("")]),
        ])
        #expect(try JSONValue.parse(value.jsonText) == value)
    }

    @Test func keysAreSortedSoTextIsDeterministic() {
        #expect(JSONValue.object(["b": .int(1), "a": .int(2)]).jsonText == #"{"a":2,"b":1}"#)
    }

    @Test func doublesKeepTheirPrecision() throws {
        for d in [0.1, 1e-300, -2.5e300, 3.141592653589793, 1.0] {
            guard case .double(let back) = try JSONValue.parse(JSONValue.double(d).jsonText) else {
                Issue.record("\(d) did not come back as a double")
                continue
            }
            #expect(back == d)
        }
    }

    @Test func parsesEscapesAndSurrogates() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00 \u00e9 \/""#) == .string("😀 é /"))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "01a", "[1] x", "\"\\ud83d\"", "+1", "01", "-01", "1.", ".5", "1e", "1e+", "-", "[1.e5]"])
    func rejectsMalformedWithPosition(text: String) {
        #expect(throws: EngramError.self) { try JSONValue.parse(text) }
    }

    @Test func intAndDoubleCompareAsNumbers() {
        #expect(JSONValue.int(1) == .double(1.0))
        #expect(JSONValue.int(1) != .double(1.5))
    }
}

@Suite struct ValidationTests {
    let t = Timestamp(microsecondsSinceEpoch: 0)

    func heuristic(_ change: (inout Heuristic) -> Void) -> MemoryRecord {
        var h = Heuristic(id: "h", agent: "a", projectId: "p", condition: "c", strategy: "s", confidence: 0.5,
                          occurrenceCount: 2, successCount: 1, lastValidated: t, createdAt: t, embedding: [1, 0, 0])
        change(&h)
        return .heuristic(h)
    }

    func field(_ r: MemoryRecord) -> String? {
        do { try Validation.record(r, dimension: 3); return nil } catch let e as EngramError {
            return e.code == .invalidInput ? e.field : "wrong code \(e.code)"
        } catch { return "untyped error" }
    }

    @Test func acceptsAValidRecord() { #expect(field(heuristic { _ in }) == nil) }

    @Test func namesTheFieldAtFault() {
        #expect(field(heuristic { $0.id = "" }) == "id")
        #expect(field(heuristic { $0.id = String(repeating: "x", count: 257) }) == "id")
        #expect(field(heuristic { $0.projectId = "" }) == "project_id")
        #expect(field(heuristic { $0.confidence = .nan }) == "confidence")
        #expect(field(heuristic { $0.confidence = 1.01 }) == "confidence")
        #expect(field(heuristic { $0.occurrenceCount = -1 }) == "occurrence_count")
        #expect(field(heuristic { $0.successCount = 3 }) == "success_count")
        #expect(field(heuristic { $0.embedding = [1, 0] }) == "embedding")
        #expect(field(heuristic { $0.embedding = [0, 0, 0] }) == "embedding")
        #expect(field(heuristic { $0.embedding = [.infinity, 0, 0] }) == "embedding")
        #expect(field(heuristic { $0.metadata = .string("x") }) == "metadata")
        #expect(field(heuristic { $0.condition = "a\u{0}b" }) == "condition")
    }

    @Test func batchErrorsSayWhichRecord() {
        let batch = [heuristic { _ in }, heuristic { $0.confidence = 2 }]
        #expect {
            try Validation.batch(batch, dimension: 3)
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.field == "confidence" && e.message.contains("record 1")
        }
    }

    @Test func queryRules() {
        #expect(throws: EngramError.self) { try Validation.query(MemoryQuery(kind: .heuristic, projectId: "p", topK: 0), dimension: 3) }
        #expect(throws: EngramError.self) { try Validation.query(MemoryQuery(kind: .outcome, projectId: "p", minConfidence: 0.5), dimension: 3) }
        #expect(throws: Never.self) { try Validation.query(MemoryQuery(kind: .domainKnowledge, projectId: "p", minConfidence: 0.5), dimension: 3) }
    }

    @Test func errorDescriptionCarriesNativeDetail() {
        let e = EngramError(.unavailable, "connect failed", nativeCode: "08006", nativeMessage: "connection refused")
        #expect(e.description == "unavailable: connect failed (native 08006: connection refused)")
    }
}

@Suite struct RecordCodingTests {
    @Test func snakeCaseJSONRoundTrip() throws {
        let o = Outcome(id: "o", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true,
                        strategyUsed: "s", durationMs: 5, timestamp: Timestamp(microsecondsSinceEpoch: 123_456),
                        embedding: [0.1, -0], metadata: .object(["k": .int(1)]))
        let data = try JSONEncoder().encode(MemoryRecord.outcome(o))
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"project_id\"") && text.contains("\"task_type\"") && text.contains("1970-01-01T00:00:00.123456Z"))
        #expect(try JSONDecoder().decode(MemoryRecord.self, from: data) == .outcome(o))
    }

    /// One record of every kind with every field set (optionals too), unlike the blank.
    static let full: [MemoryRecord] = {
        let t = Timestamp(microsecondsSinceEpoch: 1_700_000_000_123_456), e: [Float] = [0.25, -0.0, 1e-7]
        let m = JSONValue.object(["k": .array([.int(1), .double(0.5), .null])])
        return [
            .heuristic(Heuristic(id: "h", agent: "a", projectId: "p", condition: "c", strategy: "s", confidence: 0.7,
                                 occurrenceCount: 5, successCount: 3, lastValidated: t, createdAt: Timestamp(microsecondsSinceEpoch: 1), embedding: e, metadata: m)),
            .outcome(Outcome(id: "o", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                             durationMs: 9, errorMessage: "err", userFeedback: "fb", timestamp: t, embedding: e, metadata: m)),
            .domainKnowledge(DomainKnowledge(id: "k", agent: "a", projectId: "p", domain: "d", fact: "f", source: "s", confidence: 0.4,
                                             lastVerified: t, embedding: e, metadata: m)),
            .antiPattern(AntiPattern(id: "x", agent: "a", projectId: "p", pattern: "pt", whyBad: "w", betterAlternative: "b",
                                     occurrenceCount: 2, lastSeen: t, createdAt: Timestamp(microsecondsSinceEpoch: 2), embedding: e, metadata: m)),
            .userPreference(UserPreference(id: "u", userId: "usr", category: "c", preference: "p", source: "s", confidence: 0.9,
                                           timestamp: t, metadata: m)),
        ]
    }()

    @Test(arguments: full)
    func theSchemaCarriesEveryField(record: MemoryRecord) throws {
        let schema = record.kind.schema
        let values = schema.values(of: record)
        #expect(values.count == schema.fields.count && !values.contains(.null))
        #expect(try schema.record { i, _ in values[i] } == record)
        let text = schema.jsonText(record)
        #expect(try schema.record(json: JSONValue.parse(text)) == record)
        #expect(Set(try JSONValue.parse(text).objectValue!.keys) == Set(schema.fields.map(\.name)))
        #expect(schema.fields[0] == schema.scope && schema.fields[1].name == "id")
        #expect(schema.position(of: schema.orderField) != nil)
    }

    @Test(arguments: full)
    func aMissingOrMistypedFieldIsCorruptAndNamed(record: MemoryRecord) throws {
        let schema = record.kind.schema
        let object = try JSONValue.parse(schema.jsonText(record)).objectValue!
        for field in schema.fields {
            var wrong = object
            wrong[field.name] = field.type == .metadata ? nil : .bool(true)
            if field.type == .bool { wrong[field.name] = .string("yes") }
            if field.nullable, field.type != .metadata, wrong[field.name] == nil { continue }
            let error = #expect(throws: EngramError.self) { try schema.record(json: .object(wrong)) }
            #expect(error?.code == .corrupt && error?.message.contains(field.name) == true, "\(field.name): \(String(describing: error))")
        }
    }

    /// With several faults, the field named is the one the contract's order reaches first:
    /// id, then the schema's order, success_count right after the counts.
    @Test func severalFaultsNameTheFirstInTheContractOrder() throws {
        func field(_ r: MemoryRecord) -> String? {
            do { try Validation.record(r, dimension: 3); return nil } catch let e as EngramError { return e.field } catch { return "?" }
        }
        let t = Timestamp(microsecondsSinceEpoch: 0)
        let bad = Heuristic(id: "", agent: "a", projectId: "", condition: "c", strategy: "s", confidence: 0.5, occurrenceCount: 3,
                            successCount: 5, lastValidated: Timestamp(microsecondsSinceEpoch: Int64.max), createdAt: t)
        #expect(field(.heuristic(bad)) == "id")
        var h = bad
        h.id = "h"
        h.projectId = "p"
        #expect(field(.heuristic(h)) == "success_count")
        #expect(field(.userPreference(UserPreference(id: "", userId: "", category: "c", preference: "p", source: "s", timestamp: t))) == "id")
    }

    @Test func defaultOrderFollowsTheSchemaField() {
        let records = Self.full
        for r in records {
            let order = r.kind.schema.orderField
            #expect(["confidence", "timestamp", "occurrence_count"].contains(order))
        }
        let low = Heuristic(id: "b", agent: "a", projectId: "p", condition: "c", strategy: "s", confidence: 0.1, occurrenceCount: 0,
                            successCount: 0, lastValidated: .epoch, createdAt: .epoch)
        var high = low
        high.confidence = 0.9
        high.id = "z"
        #expect(MemoryKind.defaultOrder(.heuristic(high), .heuristic(low)))
        #expect(!MemoryKind.defaultOrder(.heuristic(low), .heuristic(high)))
        var tie = low
        tie.id = "a"
        #expect(MemoryKind.defaultOrder(.heuristic(tie), .heuristic(low)))
    }
}

@Suite struct RedactorTests {
    @Test(arguments: [
        ("host=127.0.0.1 port=1 user=u password=s3cret dbname=db", "s3cret"),
        ("postgresql://u@127.0.0.1:1/db?password=s3cret", "s3cret"),
        ("postgresql://u:s3cret@[::1:1/db", "s3cret"),
        ("postgresql://u:s%33cret@host/db", "s3cret"),
        ("https://user:hunter2@account.documents.azure.com:443", "hunter2"),
        ("https://account.blob.core.windows.net/c?sv=2020&sig=AbC%2Bdef", "AbC+def"),
        ("password = 'two words' host=h", "two words"),
        ("postgres://user:S3c/r3t?P#w@127.0.0.1:1/db", "S3c/r3t?P#w"),
        ("host=h password='S3c\\'r3t'", "S3c\\'r3t"),
        ("host=h password='S3c\\'r3t'", "S3c'r3t"),
    ])
    func removesTheSecretWhereverItAppears(connection: String, secret: String) {
        let redact = Redactor(connectionString: connection)
        let message = "could not parse \"\(connection)\": bad; password was \(secret)"
        #expect(!redact(message).contains(secret), "\(redact(message))")
        #expect(redact(message).contains("***"))
    }

    @Test func leavesTextWithoutSecretsAlone() {
        let redact = Redactor(connectionString: "postgresql://engram@127.0.0.1:54329/engram", secrets: ["K3y=="])
        #expect(redact("connection to 127.0.0.1:54329 refused") == "connection to 127.0.0.1:54329 refused")
        #expect(redact(EngramError(.unavailable, "bad key K3y==", nativeMessage: "K3y==")).description == "unavailable: bad key *** (native: ***)")
    }
}

@Suite struct ContractRangeTests {
    @Test func boundsAreTheFourDigitYears() {
        #expect(Timestamp.contractRange.lowerBound.rfc3339 == "0001-01-01T00:00:00.000000Z")
        #expect(Timestamp.contractRange.upperBound.rfc3339 == "9999-12-31T23:59:59.999999Z")
    }
}
