//! The ClickHouse functions a SnQL query may call. Snuba itself forwards any
//! name to ClickHouse, which rejects unknown ones; sentry-sls evaluates queries
//! itself, so it checks names up front against this list (Snuba's global
//! allow-list, `snuba/query/functions.py`, plus what Sentry's pages send).

/// Aggregate functions (combinators such as `If`, `Array`, `OrNull` are
/// accepted on top of these).
const AGGREGATES: &[&str] = &[
    "count", "min", "max", "sum", "avg", "any", "anyLast", "anyHeavy", "argMin", "argMax",
    "uniq", "uniqExact", "uniqCombined", "uniqCombined64", "uniqHLL12", "uniqTheta",
    "quantile", "quantiles", "quantileExact", "quantilesExact", "quantileTiming",
    "quantileTDigest", "quantilesTDigest", "quantileDeterministic", "median", "topK",
    "topKWeighted", "groupArray", "groupUniqArray", "groupArraySample", "groupBitmap",
    "stddevPop", "stddevSamp", "varPop", "varSamp", "covarPop", "covarSamp", "corr",
    "sumWithOverflow", "sumMap", "minMap", "maxMap", "last", "first", "histogram", "apdex",
    "failure_rate", "simpleLinearRegression", "avgWeighted", "entropy", "skewPop", "skewSamp",
    "kurtPop", "kurtSamp", "countEqual", "bitAnd", "bitOr", "bitXor",
    // Snuba's custom aggregates for generic metrics
    "avg_weighted", "sum_weighted", "quantiles_weighted", "quantile_weighted", "count_weighted",
];

/// Regular (row-wise) functions.
const FUNCTIONS: &[&str] = &[
    // arithmetic and comparison
    "plus", "minus", "multiply", "divide", "intDiv", "intDivOrZero", "modulo", "negate", "abs",
    "gcd", "lcm", "equals", "notEquals", "less", "greater", "lessOrEquals", "greaterOrEquals",
    "and", "or", "not", "xor", "in", "notIn", "globalIn", "globalNotIn", "like", "notLike",
    "ilike", "notILike", "match", "multiMatchAny", "isNull", "isNotNull", "ifNull", "nullIf",
    "coalesce", "assumeNotNull", "toNullable", "if", "multiIf", "greatest", "least",
    "isFinite", "isInfinite", "isNaN", "ifNotFinite",
    // math
    "exp", "log", "ln", "log2", "log10", "exp2", "exp10", "sqrt", "cbrt", "pow", "power",
    "floor", "ceil", "round", "roundBankers", "trunc", "sign", "sin", "cos",
    // type conversion
    "toString", "toUInt8", "toUInt16", "toUInt32", "toUInt64", "toInt8", "toInt16", "toInt32",
    "toInt64", "toFloat32", "toFloat64", "toDate", "toDateTime", "toDateTime64", "toUUID",
    "toUUIDOrNull", "toUInt64OrNull", "toInt64OrNull", "toFloat64OrNull", "toDecimal64",
    "toFixedString", "toTypeName", "reinterpretAsUInt64", "CAST", "cast", "toIPv4", "toIPv6",
    "IPv4NumToString", "IPv6NumToString", "IPv4StringToNum", "IPv6StringToNum",
    // dates
    "now", "today", "yesterday", "toStartOfMinute", "toStartOfFiveMinute",
    "toStartOfFifteenMinutes", "toStartOfHour", "toStartOfDay", "toStartOfWeek", "toMonday",
    "toStartOfMonth", "toStartOfQuarter", "toStartOfYear", "toStartOfInterval",
    "toUnixTimestamp", "toYear", "toMonth", "toDayOfMonth", "toDayOfWeek", "toHour",
    "toMinute", "toSecond", "toRelativeHourNum", "toRelativeDayNum", "dateDiff", "addSeconds",
    "addMinutes", "addHours", "addDays", "subtractSeconds", "subtractMinutes", "subtractHours",
    "subtractDays", "toIntervalSecond", "toIntervalMinute", "toIntervalHour", "toIntervalDay",
    "toIntervalWeek", "toIntervalMonth", "formatDateTime", "parseDateTimeBestEffort",
    "parseDateTimeBestEffortOrNull", "toTimeZone", "timeSlot",
    // strings
    "length", "lengthUTF8", "empty", "notEmpty", "lower", "upper", "lowerUTF8", "upperUTF8",
    "concat", "substring", "substringUTF8", "trim", "trimBoth", "trimLeft", "trimRight",
    "replaceAll", "replaceOne", "replaceRegexpAll", "replaceRegexpOne", "position",
    "positionCaseInsensitive", "positionUTF8", "positionCaseInsensitiveUTF8", "startsWith",
    "endsWith", "splitByChar", "splitByString", "extract", "extractAll", "hex", "unhex",
    "leftPad", "rightPad", "reverse", "format", "emptyIfNull", "base64Encode", "base64Decode",
    "JSONExtract", "JSONExtractString", "JSONExtractInt", "JSONExtractRaw", "visitParamExtractString",
    "URLHash", "domain", "path", "queryString",
    // hashes
    "cityHash64", "farmHash64", "sipHash64", "xxHash64", "murmurHash3_64", "MD5", "SHA1",
    // arrays and tuples
    "array", "tuple", "tupleElement", "has", "hasAny", "hasAll", "indexOf", "arrayElement",
    "arrayJoin", "arrayExists", "arrayAll", "arrayMap", "arrayFilter", "arrayFirst",
    "arrayFirstIndex", "arrayCount", "arraySum", "arrayMin", "arrayMax", "arrayAvg",
    "arraySlice", "arrayConcat", "arrayDistinct", "arrayUniq", "arrayEnumerate", "arraySort",
    "arrayReverse", "arrayReverseSort", "arrayStringConcat", "arrayZip", "arrayReduce",
    "arrayCumSum", "arrayResize", "arrayPushBack", "arrayPushFront", "arrayIntersect",
    "arrayCompact", "range", "emptyArrayString", "emptyArrayUInt64", "countEqual",
    "transform", "bitmapContains", "mapContains", "mapKeys", "mapValues",
    // other
    "identity", "ignore", "materialize", "toColumnTypeName", "bar", "isHandled", "notHandled",
    "arrayPositionCaseInsensitive", "uuid", "generateUUIDv4", "rand", "rand64",
];

const COMBINATORS: &[&str] = &[
    "If", "Array", "State", "Merge", "MergeIf", "MergeState", "ForEach", "OrDefault", "OrNull",
    "Resample", "SampleState", "Distinct",
];

/// Whether `name` is an aggregate function, with or without combinators.
pub fn is_aggregate_function(name: &str) -> bool {
    if AGGREGATES.contains(&name) {
        return true;
    }
    COMBINATORS.iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| !base.is_empty() && is_aggregate_function(base))
    })
}

/// Whether sentry-sls accepts a call to `name`.
pub fn is_known_function(name: &str) -> bool {
    FUNCTIONS.contains(&name) || is_aggregate_function(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinators_extend_aggregates() {
        assert!(is_known_function("countIf"));
        assert!(is_known_function("uniqMergeIf"));
        assert!(is_known_function("quantilesExactIf"));
        assert!(is_known_function("positionCaseInsensitive"));
        assert!(!is_known_function("cout"));
        assert!(!is_known_function("If"));
        assert!(is_aggregate_function("argMaxIf"));
        assert!(!is_aggregate_function("multiIf"));
    }
}
