SELECT DISTINCT
  h.anchor AS a,
  r.node AS b,
  GREATEST(h.anchor_rank, r.rank) AS rank
FROM (
  SELECT
    *
  FROM _anchors
  WHERE
    linked
) AS h
JOIN _record_nodes AS r
  ON r.source = h.source AND r.record_id = h.record_id AND r.node <> h.anchor
