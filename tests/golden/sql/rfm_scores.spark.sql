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
        RANK() OVER (
          ORDER BY days_since_last_order DESC, orders ASC NULLS LAST, revenue ASC NULLS LAST
        ) - 1
      ) / COUNT(*) OVER ()
    ) AS BIGINT) AS r,
    CAST(1 + FLOOR(
      5 * (
        RANK() OVER (
          ORDER BY orders ASC NULLS LAST, revenue ASC NULLS LAST, days_since_last_order DESC
        ) - 1
      ) / COUNT(*) OVER ()
    ) AS BIGINT) AS f,
    CAST(1 + FLOOR(
      5 * (
        RANK() OVER (
          ORDER BY revenue ASC NULLS LAST, orders ASC NULLS LAST, days_since_last_order DESC
        ) - 1
      ) / COUNT(*) OVER ()
    ) AS BIGINT) AS m
  FROM profiles
  WHERE
    orders > 0
) AS s
