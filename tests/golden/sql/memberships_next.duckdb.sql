SELECT
  k.uid,
  k.segmentation,
  k.segment,
  CASE WHEN k.exited_at IS NULL THEN COALESCE(a.score, k.score) ELSE k.score END AS score,
  k.entered_at,
  k.exited_at
FROM (
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
          OR o.entered_at = CAST(NULL AS TIMESTAMP)
        )
      )
  ) AS t
    ON t.uid = o.uid
    AND t.segmentation = o.segmentation
    AND t.segment = o.segment
    AND t.entered_at = o.entered_at
  WHERE
    t.uid IS NULL
) AS k
LEFT JOIN _assignments AS a
  ON a.uid = k.uid AND a.segmentation = k.segmentation AND a.segment = k.segment
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
  CAST(NULL AS TIMESTAMP) AS entered_at,
  o.exited_at
FROM _old AS o
JOIN _changes AS a
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
WHERE
  a.change = 'exited'
  AND NOT CAST(NULL AS TIMESTAMP) IS NULL
  AND (
    o.exited_at IS NULL OR o.exited_at > CAST(NULL AS TIMESTAMP)
  )
UNION ALL
SELECT
  a.uid,
  a.segmentation,
  a.segment,
  a.score,
  COALESCE(l.entered_at, CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP)) AS entered_at,
  CASE WHEN NOT r.uid IS NULL THEN r.exited_at ELSE CAST(NULL AS TIMESTAMP) END AS exited_at
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
    exited_at = CAST(CAST('2025-12-31' AS DATE) AS TIMESTAMP) AND FALSE
) AS r
  ON r.uid = a.uid AND r.segmentation = a.segmentation AND r.segment = a.segment
WHERE
  a.change = 'entered'
