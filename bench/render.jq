# bench/render.jq — `qx-send render --mapping fixtures/mappings/demo.json`
# written in jq, as a user without qx-send would script it:
#
#   jq -c -f bench/render.jq profiles.ndjson
#
# One payload per profile (compact); excluded profiles give nothing. The rules
# are qx-send's (docs/qx-send.md, "The payload"):
# - segmentMembership.ups restricted to the activated audiences (entries that
#   are objects), each reduced to status and lastQualificationTime; no
#   activated audience: excluded;
# - identityMap restricted to the mapped namespaces (Email, ECID), keyed by
#   their target identities (Email, external_id), entries
#   reduced to {"id"}; empty ids and, for the email namespace, SHA-256-looking
#   hashed emails are dropped; nothing left: excluded;
# - each mapped attribute that is a scalar (not null, array or object) moved
#   from its source path to its target path.

def audiences: ["a1f5c3e0-purchase-completed-0001", "b2e6d4f1-visited-help-page-0002"];

# The value at a path of object keys, null when any step is not an object.
def dig(p): reduce p[] as $k (.; if type == "object" then .[$k] else null end);

def is_hashed: length == 64 and test("^[0-9A-Fa-f]+$");

# The entries of namespace ns as [{id}]; email: hashed ones dropped.
def ids(ns; email):
  dig(["identityMap", ns]) as $e
  | if ($e | type) == "array" then
      [$e[] | select(type == "object") | .id
       | select(type == "string" and . != "")
       | select((email and is_hashed) | not) | {id: .}]
    else [] end;

def put(path; v): if v == null or (v | type) == "array" or (v | type) == "object" then . else setpath(path; v) end;

. as $p
| (dig(["segmentMembership", "ups"])) as $ups
| (if ($ups | type) == "object" then
     [$ups | to_entries[]
      | select(.key as $k | any(audiences[]; . == $k))
      | select(.value | type == "object")
      | {key, value: (.value | with_entries(select(.key == "status" or .key == "lastQualificationTime")))}]
   else [] end) as $aud
| select($aud | length > 0)
| ([{key: "Email", value: ($p | ids("Email"; true))},
    {key: "external_id", value: ($p | ids("ECID"; false))}]
   | map(select(.value | length > 0))) as $idm
| select($idm | length > 0)
| {}
| put(["person", "name", "firstName"]; $p | dig(["person", "name", "firstName"]))
| put(["person", "name", "lastName"]; $p | dig(["person", "name", "lastName"]))
| put(["mobilePhone", "number"]; $p | dig(["mobilePhone", "number"]))
| put(["loyaltyTier"]; $p | dig(["loyalty", "tier"]))
| .identityMap = ($idm | from_entries)
| .segmentMembership = {ups: ($aud | from_entries)}
