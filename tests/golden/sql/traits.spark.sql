SELECT
  p.uid,
  COALESCE(o.orders, 0) AS orders,
  COALESCE(o.revenue, 0) AS revenue,
  CAST(o.revenue AS DOUBLE) / NULLIF(CAST(o.orders AS DOUBLE), 0) AS aov,
  o.first_order_at,
  o.last_order_at,
  DATEDIFF(DAY, CAST(o.last_order_at AS DATE), CAST('2025-12-31' AS DATE)) AS days_since_last_order,
  DATEDIFF(DAY, CAST(o.first_order_at AS DATE), CAST('2025-12-31' AS DATE)) AS days_since_first_order,
  COALESCE(ga.order_days, 0) AS order_days,
  ga.gap_mean_days,
  ga.gap_median_days,
  ga.gap_std_days,
  ga.last_gap_days,
  o.promo_share,
  o.month_concentration,
  CASE
    WHEN o.orders > 1
    THEN CAST((
      o.month_concentration - (
        CAST(1 AS DOUBLE) / NULLIF(CAST(12 AS DOUBLE), 0) + CAST(CAST(11 AS DOUBLE) / NULLIF(CAST(12 AS DOUBLE), 0) AS DOUBLE) / NULLIF(CAST(o.orders AS DOUBLE), 0)
      )
    ) AS DOUBLE) / NULLIF(
      CAST((
        1 - (
          CAST(1 AS DOUBLE) / NULLIF(CAST(12 AS DOUBLE), 0) + CAST(CAST(11 AS DOUBLE) / NULLIF(CAST(12 AS DOUBLE), 0) AS DOUBLE) / NULLIF(CAST(o.orders AS DOUBLE), 0)
        )
      ) AS DOUBLE),
      0
    )
  END AS seasonality,
  o.top_month,
  ca.top_category,
  ca.top_category_share,
  ca.categories,
  ch.top_channel,
  ch.top_channel_share,
  ch.channels,
  COALESCE(w.sessions, 0) AS sessions,
  COALESCE(w.page_views, 0) AS page_views,
  COALESCE(w.web_events_30d, 0) AS web_events_30d,
  GREATEST(w._last_event_at, oe._last_order_at) AS last_seen_at,
  DATEDIFF(
    DAY,
    CAST((
      GREATEST(w._last_event_at, oe._last_order_at)
    ) AS DATE),
    CAST('2025-12-31' AS DATE)
  ) AS days_since_last_seen,
  e.email_opens,
  e.email_clicks,
  CAST(e.email_clicks AS DOUBLE) / NULLIF(CAST(e.email_opens AS DOUBLE), 0) AS email_click_rate,
  CASE
    WHEN NOT w.cancelled_at IS NULL
    AND w.cancelled_at >= GREATEST(
      COALESCE(w.subscribed_at, w.trial_started_at),
      COALESCE(w.trial_started_at, w.subscribed_at)
    )
    THEN 'cancelled'
    WHEN NOT w.subscribed_at IS NULL
    THEN 'active'
    WHEN NOT w.trial_started_at IS NULL
    THEN 'trial'
    ELSE 'none'
  END AS subscription_status,
  w.trial_started_at,
  w.subscribed_at,
  w.cancelled_at,
  COALESCE(o.orders_30d, 0) AS orders_30d,
  COALESCE(o.revenue_30d, 0) AS revenue_30d,
  COALESCE(o.orders_90d, 0) AS orders_90d,
  COALESCE(o.revenue_90d, 0) AS revenue_90d,
  COALESCE(o.orders_365d, 0) AS orders_365d,
  COALESCE(o.revenue_365d, 0) AS revenue_365d
FROM _golden AS p
LEFT JOIN (
  SELECT
    uid,
    orders,
    revenue,
    first_order_at,
    last_order_at,
    CAST(promo_share_sum AS DOUBLE) / NULLIF(promo_share_count, 0) AS promo_share,
    CAST(m1 * m1 + m2 * m2 + m3 * m3 + m4 * m4 + m5 * m5 + m6 * m6 + m7 * m7 + m8 * m8 + m9 * m9 + m10 * m10 + m11 * m11 + m12 * m12 AS DOUBLE) / NULLIF(CAST(month_concentration_count AS DOUBLE) * month_concentration_count, 0) AS month_concentration,
    CAST(CASE
      WHEN GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12) = 0
      THEN NULL
      WHEN m1 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 1
      WHEN m2 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 2
      WHEN m3 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 3
      WHEN m4 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 4
      WHEN m5 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 5
      WHEN m6 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 6
      WHEN m7 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 7
      WHEN m8 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 8
      WHEN m9 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 9
      WHEN m10 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 10
      WHEN m11 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 11
      WHEN m12 = GREATEST(m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12)
      THEN 12
    END AS BIGINT) AS top_month,
    orders_30d,
    revenue_30d,
    orders_90d,
    revenue_90d,
    orders_365d,
    revenue_365d
  FROM (
    SELECT
      uid,
      COUNT(*) AS orders,
      CAST(SUM(amount) AS DOUBLE) AS revenue,
      MIN(ts) AS first_order_at,
      MAX(ts) AS last_order_at,
      SUM(CASE WHEN promo THEN 1 ELSE 0 END) AS promo_share_sum,
      COUNT(CASE WHEN promo THEN 1 ELSE 0 END) AS promo_share_count,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 1) AS m1,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 2) AS m2,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 3) AS m3,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 4) AS m4,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 5) AS m5,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 6) AS m6,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 7) AS m7,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 8) AS m8,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 9) AS m9,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 10) AS m10,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 11) AS m11,
      COUNT(*) FILTER(WHERE
        MONTH(ts) = 12) AS m12,
      COUNT(MONTH(ts)) AS month_concentration_count,
      COUNT(*) FILTER(WHERE
        ts >= CAST('2025-12-02 00:00:00' AS TIMESTAMP_NTZ)) AS orders_30d,
      CAST(SUM(amount) FILTER(WHERE
        ts >= CAST('2025-12-02 00:00:00' AS TIMESTAMP_NTZ)) AS DOUBLE) AS revenue_30d,
      COUNT(*) FILTER(WHERE
        ts >= CAST('2025-10-03 00:00:00' AS TIMESTAMP_NTZ)) AS orders_90d,
      CAST(SUM(amount) FILTER(WHERE
        ts >= CAST('2025-10-03 00:00:00' AS TIMESTAMP_NTZ)) AS DOUBLE) AS revenue_90d,
      COUNT(*) FILTER(WHERE
        ts >= CAST('2025-01-01 00:00:00' AS TIMESTAMP_NTZ)) AS orders_365d,
      CAST(SUM(amount) FILTER(WHERE
        ts >= CAST('2025-01-01 00:00:00' AS TIMESTAMP_NTZ)) AS DOUBLE) AS revenue_365d
    FROM _orders
    GROUP BY
      uid
  ) AS s
) AS o
  ON o.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    MAX(ts) AS _last_order_at
  FROM _oe
  GROUP BY
    uid
) AS oe
  ON oe.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    COUNT(DISTINCT CASE WHEN type IN ('page', 'screen', 'track') THEN CAST(ts AS DATE) END) AS sessions,
    COUNT(*) FILTER(WHERE
      type IN ('page', 'screen')) AS page_views,
    COUNT(*) FILTER(WHERE
      type IN ('page', 'screen', 'track')
      AND ts >= CAST('2025-12-02 00:00:00' AS TIMESTAMP_NTZ)) AS web_events_30d,
    MAX(ts) FILTER(WHERE
      type = 'track' AND name = 'Trial Started') AS trial_started_at,
    MAX(ts) FILTER(WHERE
      type = 'track' AND name = 'Subscription Started') AS subscribed_at,
    MAX(ts) FILTER(WHERE
      type = 'track' AND name = 'Subscription Cancelled') AS cancelled_at,
    MAX(ts) AS _last_event_at
  FROM (
    SELECT
      m.uid,
      e.*
    FROM events AS e
    JOIN record_map AS m
      ON m.source = e.source
      AND m.record_id = CASE WHEN e.type = 'order' THEN e.order_id ELSE e.event_id END
    WHERE
      NOT e.type IN ('order', 'order_item')
      AND e.ts < CAST('2026-01-01 00:00:00' AS TIMESTAMP_NTZ)
  ) AS r
  GROUP BY
    uid
) AS w
  ON w.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    order_days,
    CAST(gap_mean_days_sum AS DOUBLE) / NULLIF(gap_mean_days_count, 0) AS gap_mean_days,
    gap_median_days,
    gap_std_days,
    last_gap_days
  FROM (
    SELECT
      uid,
      COUNT(*) AS order_days,
      SUM(gap) AS gap_mean_days_sum,
      COUNT(gap) AS gap_mean_days_count,
      MEDIAN(gap) AS gap_median_days,
      STDDEV_SAMP(gap) AS gap_std_days,
      MAX_BY(gap, STRUCT(day AS t, gap AS v)) FILTER(WHERE
        NOT gap IS NULL) AS last_gap_days
    FROM _gaps
    GROUP BY
      uid
  ) AS s
) AS ga
  ON ga.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    MIN_BY(value, STRUCT(-share AS k, value AS v)) FILTER(WHERE
      NOT value IS NULL AND NOT share IS NULL) AS top_category,
    MAX(share) AS top_category_share,
    COUNT(*) AS categories
  FROM (
    SELECT
      *
    FROM _shares
    WHERE
      dimension = 'category'
  ) AS r
  GROUP BY
    uid
) AS ca
  ON ca.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    MIN_BY(value, STRUCT(-share AS k, value AS v)) FILTER(WHERE
      NOT value IS NULL AND NOT share IS NULL) AS top_channel,
    MAX(share) AS top_channel_share,
    COUNT(*) AS channels
  FROM (
    SELECT
      *
    FROM _shares
    WHERE
      dimension = 'channel'
  ) AS r
  GROUP BY
    uid
) AS ch
  ON ch.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    CAST(SUM(email_opens) AS BIGINT) AS email_opens,
    CAST(SUM(email_clicks) AS BIGINT) AS email_clicks
  FROM (
    SELECT
      m.uid,
      c.email_opens,
      c.email_clicks
    FROM customer_records AS c
    JOIN record_map AS m
      ON m.source = c.source AND m.record_id = c.record_id
    WHERE
      NOT c.email_opens IS NULL OR NOT c.email_clicks IS NULL
  ) AS r
  GROUP BY
    uid
) AS e
  ON e.uid = p.uid
