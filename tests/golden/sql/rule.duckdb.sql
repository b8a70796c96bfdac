SELECT
  uid
FROM profiles
WHERE
  (
    revenue_365d > 1000
    AND DATE_DIFF('DAY', CAST(last_order_at AS DATE), CAST('2025-12-31' AS DATE)) BETWEEN 60 AND 180
    AND uid IN (
      SELECT
        uid
      FROM current_memberships
      WHERE
        segmentation = 'rfm' AND segment = 'Champions'
    )
  )
