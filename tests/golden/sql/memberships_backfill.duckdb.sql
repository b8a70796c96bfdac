SELECT
  o.uid,
  o.segmentation,
  o.segment,
  o.score,
  o.entered_at,
  o.exited_at
FROM memberships AS o
LEFT JOIN (
  SELECT
    o.uid,
    o.segmentation,
    o.segment,
    o.entered_at
  FROM memberships AS o
  JOIN _changes AS a
    ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
  WHERE
    (
      a.change = 'exited'
      AND o.entered_at <= CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)
      AND (
        o.exited_at IS NULL
        OR o.exited_at > CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)
      )
    )
    OR (
      a.change = 'entered'
      AND (
        o.exited_at = CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)
        OR o.entered_at = CAST(CAST('2026-01-31' AS DATE) AS TIMESTAMP)
      )
    )
) AS t
  ON t.uid = o.uid
  AND t.segmentation = o.segmentation
  AND t.segment = o.segment
  AND t.entered_at = o.entered_at
WHERE
  t.uid IS NULL
UNION ALL
SELECT
  o.uid,
  o.segmentation,
  o.segment,
  o.score,
  o.entered_at,
  CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP) AS exited_at
FROM _old AS o
JOIN _changes AS a
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
WHERE
  a.change = 'exited'
  AND o.entered_at < CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)
UNION ALL
SELECT
  o.uid,
  o.segmentation,
  o.segment,
  o.score,
  CAST(CAST('2026-01-31' AS DATE) AS TIMESTAMP) AS entered_at,
  o.exited_at
FROM _old AS o
JOIN _changes AS a
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
WHERE
  a.change = 'exited'
  AND NOT CAST(CAST('2026-01-31' AS DATE) AS TIMESTAMP) IS NULL
  AND (
    o.exited_at IS NULL
    OR o.exited_at > CAST(CAST('2026-01-31' AS DATE) AS TIMESTAMP)
  )
UNION ALL
SELECT
  a.uid,
  a.segmentation,
  a.segment,
  a.score,
  COALESCE(l.entered_at, CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)) AS entered_at,
  CASE
    WHEN NOT r.uid IS NULL
    THEN r.exited_at
    ELSE CAST(CAST('2026-01-31' AS DATE) AS TIMESTAMP)
  END AS exited_at
FROM _changes AS a
LEFT JOIN (
  SELECT
    *
  FROM memberships
  WHERE
    exited_at = CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)
) AS l
  ON l.uid = a.uid AND l.segmentation = a.segmentation AND l.segment = a.segment
LEFT JOIN (
  SELECT
    *
  FROM memberships
  WHERE
    entered_at = CAST(CAST('2026-01-31' AS DATE) AS TIMESTAMP)
) AS r
  ON r.uid = a.uid AND r.segmentation = a.segmentation AND r.segment = a.segment
WHERE
  a.change = 'entered'
