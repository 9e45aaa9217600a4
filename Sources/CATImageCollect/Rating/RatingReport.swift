import GRDB

/// Who rated how much in a collection, and how far the raters agree.
public struct RatingReport: Sendable, Equatable, Codable {
    /// One rater's activity.
    public struct Rater: Sendable, Equatable, Codable {
        public var name: String
        public var ratings: Int
        public var skips: Int
        /// Mean of this rater's ratings; `nil` with none.
        public var meanRating: Double?
    }

    /// Done images in the collection (what can be rated).
    public var images: Int
    /// Images with at least one rating.
    public var ratedImages: Int
    /// Images rated by two or more raters.
    public var imagesWithTwoOrMoreRaters: Int
    /// Every rater with a rating or a skip, by name.
    public var raters: [Rater]
    /// Agreement over the `ratings` table.
    public var agreement: RaterAgreement
}

extension RatingStore {
    /// Every rating in the collection, as ``RaterAgreement`` reads them.
    public func ratingRecords() throws -> [RatingRecord] {
        try pool.read { db in try RatingRecord.fetchAll(db) }
    }

    /// The collection's raters, their counts and their agreement.
    public func report() throws -> RatingReport {
        let records = try ratingRecords()
        let images = try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM renders WHERE status = 'done' AND image_hash IS NOT NULL")
                ?? 0
        }
        let skipRows = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT rater, COUNT(*) AS skips FROM rating_skips GROUP BY rater")
        }
        var skipsByRater: [String: Int] = [:]
        for row in skipRows {
            let name: String = row["rater"]
            let count: Int = row["skips"]
            skipsByRater[name] = count
        }
        var byRater: [String: [Int]] = [:]
        var ratersByImage: [Int64: Int] = [:]
        for record in records {
            byRater[record.rater, default: []].append(record.value)
            ratersByImage[record.unit, default: 0] += 1
        }
        let names = Set(byRater.keys).union(skipsByRater.keys).sorted()
        let raters = names.map { name in
            let values = byRater[name, default: []]
            return RatingReport.Rater(
                name: name, ratings: values.count, skips: skipsByRater[name, default: 0],
                meanRating: values.isEmpty ? nil : Double(values.reduce(0, +)) / Double(values.count))
        }
        return RatingReport(
            images: images, ratedImages: ratersByImage.count,
            imagesWithTwoOrMoreRaters: ratersByImage.values.count(where: { $0 >= 2 }), raters: raters,
            agreement: RaterAgreement(records: records))
    }
}

extension RatingRecord {
    /// Every row of a collection's `ratings` table, by render and rater.
    static func fetchAll(_ db: Database) throws -> [RatingRecord] {
        try Row.fetchAll(db, sql: "SELECT render_id, rater, rating FROM ratings ORDER BY render_id, rater").map {
            RatingRecord(unit: $0["render_id"], rater: $0["rater"], value: $0["rating"])
        }
    }
}
