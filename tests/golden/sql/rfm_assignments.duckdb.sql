SELECT
  p.uid,
  'rfm' AS segmentation,
  COALESCE(
    CASE
      WHEN s.r BETWEEN 5 AND 5 AND s.fm BETWEEN 4 AND 5
      THEN 'Champions'
      WHEN s.r BETWEEN 3 AND 4 AND s.fm BETWEEN 4 AND 5
      THEN 'Loyal'
      WHEN s.r BETWEEN 4 AND 5 AND s.fm BETWEEN 2 AND 3
      THEN 'Potential loyalist'
      WHEN s.r BETWEEN 5 AND 5 AND s.fm BETWEEN 1 AND 1
      THEN 'New customers'
      WHEN s.r BETWEEN 4 AND 4 AND s.fm BETWEEN 1 AND 1
      THEN 'Promising'
      WHEN s.r BETWEEN 3 AND 3 AND s.fm BETWEEN 3 AND 3
      THEN 'Need attention'
      WHEN s.r BETWEEN 3 AND 3 AND s.fm BETWEEN 1 AND 2
      THEN 'About to sleep'
      WHEN s.r BETWEEN 1 AND 2 AND s.fm BETWEEN 3 AND 4
      THEN 'At risk'
      WHEN s.r BETWEEN 1 AND 2 AND s.fm BETWEEN 5 AND 5
      THEN 'Can''t lose them'
      WHEN s.r BETWEEN 2 AND 2 AND s.fm BETWEEN 1 AND 2
      THEN 'Hibernating'
      WHEN s.r BETWEEN 1 AND 1 AND s.fm BETWEEN 1 AND 2
      THEN 'Lost'
    END,
    'Prospect'
  ) AS segment,
  CAST(s.r * 100 + s.f * 10 + s.m AS DOUBLE) AS score
FROM profiles AS p
LEFT JOIN rfm_scores AS s
  ON s.uid = p.uid
