SELECT
  *,
  CASE
    WHEN status = 'ok'
    THEN ROW_NUMBER() OVER (PARTITION BY status = 'ok' ORDER BY id_type NULLS LAST, id_value NULLS LAST) - 1
  END AS node
FROM (
  SELECT
    i.*,
    CASE
      WHEN (
        id_value RLIKE '(?i)^(null|none|nil|n/?a|unknown|undefined|test|-|0+)$'
        OR id_value RLIKE '(?i)^test@'
        OR id_value RLIKE '(?i)^(noreply|no-reply|donotreply)@'
        OR id_value RLIKE '(?i)@example[.](com|org|net)$'
      )
      THEN 'blocked'
      WHEN EXISTS(
        SELECT
          1
        FROM _shared AS s
        WHERE
          s.id_type = i.id_type AND s.id_value = i.id_value
      )
      THEN 'shared'
      ELSE 'ok'
    END AS status,
    CASE i.id_type
      WHEN 'user_id'
      THEN 0
      WHEN 'crm_id'
      THEN 1
      WHEN 'email'
      THEN 2
      WHEN 'loyalty_id'
      THEN 3
      WHEN 'phone'
      THEN 4
      WHEN 'anonymous_id'
      THEN 5
      WHEN 'record'
      THEN 1000
      ELSE 6
    END AS rank
  FROM (
    SELECT
      id_type,
      id_value,
      MIN(ts) AS first_seen,
      MAX(ts) AS last_seen,
      COUNT(*) AS records
    FROM _occ
    GROUP BY
      id_type,
      id_value
  ) AS i
) AS s
