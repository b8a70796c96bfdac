SELECT
  uid,
  segmentation,
  segment,
  score,
  entered_at,
  exited_at
FROM memberships
WHERE
  NOT exited_at IS NULL
UNION ALL
SELECT
  o.uid,
  o.segmentation,
  o.segment,
  COALESCE(a.score, o.score) AS score,
  o.entered_at,
  CASE WHEN a.uid IS NULL THEN CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP) END AS exited_at
FROM _open AS o
LEFT JOIN _assignments AS a
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
UNION ALL
SELECT
  uid,
  segmentation,
  segment,
  score,
  CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP) AS entered_at,
  CAST(NULL AS TIMESTAMP) AS exited_at
FROM _changes
WHERE
  change = 'entered'
