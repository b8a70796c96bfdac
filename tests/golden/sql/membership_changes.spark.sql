SELECT
  o.uid,
  o.segmentation,
  o.segment,
  'exited' AS change,
  o.score
FROM _old AS o
LEFT JOIN _assignments AS a
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
WHERE
  a.uid IS NULL
UNION ALL
SELECT
  a.uid,
  a.segmentation,
  a.segment,
  'entered' AS change,
  a.score
FROM _assignments AS a
LEFT JOIN _old AS o
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
WHERE
  o.uid IS NULL
