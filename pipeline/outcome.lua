-- An entry's outcome value, kept under newsflow:url:<id>: 'kind|ref' or 'kind|ref|stream id'
-- (published: article id and its stream id; duplicate: the article id it duplicates; dropped
-- and dead: the reason). pipeline/publish.py (outcome_value, parse_outcome) is its Python side.
local function outcome_value(kind, ref, sid)
  if sid then return kind .. '|' .. ref .. '|' .. sid end
  return kind .. '|' .. ref
end
local function outcome_kind(value) return string.match(value, '^([^|]*)') end
local function outcome_ref(value) return string.match(value, '^[^|]*|([^|]*)') or '' end
