SELECT
  p.uid,
  p.identifiers,
  p.first_seen,
  p.last_seen,
  p.known_customer,
  a0.value AS first_name,
  a0.source AS first_name_source,
  a0.stamp AS first_name_at,
  a1.value AS last_name,
  a1.source AS last_name_source,
  a1.stamp AS last_name_at,
  a2.value AS birth_date,
  a2.source AS birth_date_source,
  a2.stamp AS birth_date_at,
  a3.value AS gender,
  a3.source AS gender_source,
  a3.stamp AS gender_at,
  a4.value AS street,
  a4.source AS street_source,
  a4.stamp AS street_at,
  a5.value AS city,
  a5.source AS city_source,
  a5.stamp AS city_at,
  a6.value AS postcode,
  a6.source AS postcode_source,
  a6.stamp AS postcode_at,
  a7.value AS country,
  a7.source AS country_source,
  a7.stamp AS country_at,
  a8.value AS email,
  a8.source AS email_source,
  a8.stamp AS email_at,
  a9.value AS phone,
  a9.source AS phone_source,
  a9.stamp AS phone_at,
  a10.value AS email_opt_in,
  a10.source AS email_opt_in_source,
  a10.stamp AS email_opt_in_at,
  a11.value AS sms_opt_in,
  a11.source AS sms_opt_in_source,
  a11.stamp AS sms_opt_in_at
FROM (
  SELECT
    m.uid,
    COUNT(*) AS identifiers,
    MIN(i.first_seen) AS first_seen,
    MAX(i.last_seen) AS last_seen,
    COALESCE(BOOL_OR(m.id_type <> 'anonymous_id'), FALSE) AS known_customer
  FROM identity_map AS m
  JOIN identifiers AS i
    ON i.id_type = m.id_type AND i.id_value = m.id_value
  GROUP BY
    m.uid
) AS p
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (
        PARTITION BY uid
        ORDER BY freq DESC, stamp DESC, source NULLS LAST, value NULLS LAST
      ) AS position
    FROM (
      SELECT
        *,
        COUNT(*) OVER (PARTITION BY uid, value) AS freq
      FROM (
        SELECT
          uid,
          first_name AS value,
          source,
          stamp
        FROM _golden_candidates
        WHERE
          NOT first_name IS NULL
      ) AS c
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a0
  ON a0.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (
        PARTITION BY uid
        ORDER BY freq DESC, stamp DESC, source NULLS LAST, value NULLS LAST
      ) AS position
    FROM (
      SELECT
        *,
        COUNT(*) OVER (PARTITION BY uid, value) AS freq
      FROM (
        SELECT
          uid,
          last_name AS value,
          source,
          stamp
        FROM _golden_candidates
        WHERE
          NOT last_name IS NULL
      ) AS c
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a1
  ON a1.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (
        PARTITION BY uid
        ORDER BY freq DESC, stamp DESC, source NULLS LAST, value NULLS LAST
      ) AS position
    FROM (
      SELECT
        *,
        COUNT(*) OVER (PARTITION BY uid, value) AS freq
      FROM (
        SELECT
          uid,
          birth_date AS value,
          source,
          stamp
        FROM _golden_candidates
        WHERE
          NOT birth_date IS NULL
      ) AS c
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a2
  ON a2.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (
        PARTITION BY uid
        ORDER BY freq DESC, stamp DESC, source NULLS LAST, value NULLS LAST
      ) AS position
    FROM (
      SELECT
        *,
        COUNT(*) OVER (PARTITION BY uid, value) AS freq
      FROM (
        SELECT
          uid,
          gender AS value,
          source,
          stamp
        FROM _golden_candidates
        WHERE
          NOT gender IS NULL
      ) AS c
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a3
  ON a3.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        street AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT street IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a4
  ON a4.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        city AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT city IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a5
  ON a5.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        postcode AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT postcode IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a6
  ON a6.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        country AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT country IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a7
  ON a7.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        email AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT email IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a8
  ON a8.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        phone AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT phone IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a9
  ON a9.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        email_opt_in AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT email_opt_in IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a10
  ON a10.uid = p.uid
LEFT JOIN (
  SELECT
    uid,
    value,
    source,
    stamp
  FROM (
    SELECT
      *,
      ROW_NUMBER() OVER (PARTITION BY uid ORDER BY stamp DESC, source NULLS LAST, value NULLS LAST) AS position
    FROM (
      SELECT
        uid,
        sms_opt_in AS value,
        source,
        stamp
      FROM _golden_candidates
      WHERE
        NOT sms_opt_in IS NULL
    ) AS f
  ) AS r
  WHERE
    position = 1
) AS a11
  ON a11.uid = p.uid
