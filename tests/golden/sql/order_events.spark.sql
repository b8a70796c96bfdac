SELECT
  m.uid,
  e.source,
  e.order_id,
  e.ts,
  e.amount,
  e.channel,
  COALESCE(e.promo, FALSE) AS promo,
  NOT COALESCE(LOWER(e.status), '') IN ('cancelled', 'canceled', 'returned', 'refunded') AS counted
FROM events AS e
JOIN record_map AS m
  ON m.source = e.source AND m.record_id = e.order_id
WHERE
  e.type = 'order' AND e.ts < CAST('2026-01-01 00:00:00' AS TIMESTAMP_NTZ)
