#include "tablepub/datum.hpp"

#include "tablepub.pb.h"

namespace tablepub {

Datum to_datum(const v1::Value& v) {
    Datum d;
    using K = Datum::Kind;
    switch (v.kind_case()) {
        case v1::Value::kNull: break;
        case v1::Value::kBoolean:
            d.kind = K::boolean;
            d.boolean = v.boolean();
            break;
        case v1::Value::kInteger:
            d.kind = K::integer;
            d.integer = v.integer();
            break;
        case v1::Value::kReal:
            d.kind = K::real;
            d.real = v.real();
            break;
        case v1::Value::kText:
            d.kind = K::text;
            d.bytes = v.text();
            break;
        case v1::Value::kBinary:
            d.kind = K::binary;
            d.bytes = v.binary();
            break;
        case v1::Value::kNumeric:
            d.kind = K::numeric;
            d.bytes = v.numeric();
            break;
        case v1::Value::kTimestamp:
            d.kind = K::timestamp;
            d.integer = v.timestamp();
            break;
        case v1::Value::kLocalTimestamp:
            d.kind = K::local_timestamp;
            d.integer = v.local_timestamp();
            break;
        case v1::Value::kDate:
            d.kind = K::date;
            d.integer = v.date();
            break;
        case v1::Value::kInterval:
            d.kind = K::interval;
            d.months = v.interval().months();
            d.days = v.interval().days();
            d.microseconds = v.interval().microseconds();
            break;
        case v1::Value::kUuid:
            d.kind = K::uuid;
            d.bytes = v.uuid();
            break;
        case v1::Value::kJson:
            d.kind = K::json;
            d.bytes = v.json();
            break;
        case v1::Value::kOther:
            d.kind = K::other;
            d.bytes = v.other();
            break;
        case v1::Value::kRawText:
            d.kind = K::raw_text;
            d.bytes = v.raw_text();
            break;
        case v1::Value::KIND_NOT_SET: d.kind = K::other; break;
    }
    return d;
}

}  // namespace tablepub
