SELECT
  *,
  CAST(FLOOR((
    f + m + 1
  ) / 2) AS BIGINT) AS fm
FROM (
  SELECT
    uid,
    days_since_last_order AS recency_days,
    orders AS frequency,
    revenue AS monetary,
    CAST(1 + FLOOR(
      5 * (
        RANK() OVER (ORDER BY days_since_last_order DESC, orders ASC, revenue ASC) - 1
      ) / COUNT(*) OVER ()
    ) AS BIGINT) AS r,
    CAST(1 + FLOOR(
      5 * (
        RANK() OVER (ORDER BY orders ASC, revenue ASC, days_since_last_order DESC) - 1
      ) / COUNT(*) OVER ()
    ) AS BIGINT) AS f,
    CAST(1 + FLOOR(
      5 * (
        RANK() OVER (ORDER BY revenue ASC, orders ASC, days_since_last_order DESC) - 1
      ) / COUNT(*) OVER ()
    ) AS BIGINT) AS m
  FROM profiles
  WHERE
    orders > 0
) AS s
