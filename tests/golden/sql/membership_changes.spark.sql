SELECT
  COALESCE(o.uid, a.uid) AS uid,
  COALESCE(o.segmentation, a.segmentation) AS segmentation,
  COALESCE(o.segment, a.segment) AS segment,
  CASE WHEN o.uid IS NULL THEN 'entered' ELSE 'exited' END AS change,
  CASE WHEN o.uid IS NULL THEN a.score ELSE o.score END AS score
FROM _old AS o
FULL OUTER JOIN _assignments AS a
  ON o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment
WHERE
  o.uid IS NULL OR a.uid IS NULL
