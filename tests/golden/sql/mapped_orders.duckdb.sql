SELECT
  order_id,
  ts,
  amount,
  currency,
  channel,
  store_id,
  promo,
  "__raw_promo",
  status,
  "__rawid_email",
  "__rawid_phone",
  user_id,
  anonymous_id,
  email,
  phone,
  loyalty_id,
  crm_id,
  extra_ids,
  _raw_json,
  _attributes,
  _file,
  _row,
  order_id AS _key,
  CASE
    WHEN NOT order_id IS NULL AND NOT ts IS NULL AND NOT amount IS NULL
    THEN NULL
    ELSE NULLIF(
      CONCAT_WS(
        '; ',
        CASE
          WHEN order_id IS NULL AND NULLIF(TRIM("__raw_order_id"), '') IS NULL
          THEN 'missing order_id (column ''receipt'')'
        END,
        CASE
          WHEN ts IS NULL AND NULLIF(TRIM("__raw_ts"), '') IS NULL
          THEN 'missing ts (column ''sold_at'')'
        END,
        CASE
          WHEN ts IS NULL AND NOT NULLIF(TRIM("__raw_ts"), '') IS NULL
          THEN 'ts (column ''sold_at''): ' || '''' || "__raw_ts" || '''' || ' is not a timestamp'
        END,
        CASE
          WHEN amount IS NULL AND NULLIF(TRIM("__raw_amount"), '') IS NULL
          THEN 'missing amount (column ''total'')'
        END,
        CASE
          WHEN amount IS NULL AND NOT NULLIF(TRIM("__raw_amount"), '') IS NULL
          THEN 'amount (column ''total''): ' || '''' || "__raw_amount" || '''' || ' is not an amount'
        END
      ),
      ''
    )
  END AS _reason,
  (
    NOT order_id IS NULL AND NOT ts IS NULL AND NOT amount IS NULL
  ) IS TRUE AS _passes
FROM (
  SELECT
    NULLIF(TRIM(CAST("receipt" AS TEXT)), '') AS order_id,
    CAST("receipt" AS TEXT) AS "__raw_order_id",
    COALESCE(
      TRY_CAST(CAST("sold_at" AS TEXT) AS TIMESTAMP),
      TRY_CAST(TRIM(CAST("sold_at" AS TEXT)) AS TIMESTAMP)
    ) AS ts,
    CAST("sold_at" AS TEXT) AS "__raw_ts",
    COALESCE(
      TRY_CAST(CAST("total" AS TEXT) AS DECIMAL(18, 2)),
      TRY_CAST(TRIM(CAST("total" AS TEXT)) AS DECIMAL(18, 2))
    ) AS amount,
    CAST("total" AS TEXT) AS "__raw_amount",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS currency,
    CAST(NULL AS TEXT) AS "__raw_currency",
    NULLIF(TRIM(CAST('store' AS TEXT)), '') AS channel,
    CAST('store' AS TEXT) AS "__raw_channel",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS store_id,
    CAST(NULL AS TEXT) AS "__raw_store_id",
    CASE
      WHEN LOWER(NULLIF(TRIM(CAST("promo" AS TEXT)), '')) IN ('true', 't', '1', 'yes', 'y')
      THEN TRUE
      WHEN LOWER(NULLIF(TRIM(CAST("promo" AS TEXT)), '')) IN ('false', 'f', '0', 'no', 'n')
      THEN FALSE
    END AS promo,
    CAST("promo" AS TEXT) AS "__raw_promo",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS status,
    CAST(NULL AS TEXT) AS "__raw_status",
    NULLIF(TRIM(CAST("card" AS TEXT)), '') AS loyalty_id,
    CAST("email" AS TEXT) AS "__rawid_email",
    CASE
      WHEN REGEXP_MATCHES(LOWER(TRIM(CAST("email" AS TEXT))), '^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$')
      THEN LOWER(TRIM(CAST("email" AS TEXT)))
    END AS email,
    CAST("phone" AS TEXT) AS "__rawid_phone",
    CASE
      WHEN REGEXP_MATCHES(
        CASE
          WHEN STARTS_WITH(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '+')
          THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
          WHEN STARTS_WITH(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
            '00'
          )
          THEN '+' || SUBSTRING(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
            3
          )
          WHEN STARTS_WITH(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
            '0'
          )
          THEN '+1' || SUBSTRING(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
            2
          )
          WHEN LENGTH(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
          ) IN (10)
          THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
          WHEN STARTS_WITH(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
            '1'
          )
          AND LENGTH(
            REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
          ) IN (11)
          THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
        END,
        '^\+[1-9][0-9]{7,14}$'
      )
      AND REPLACE(
        SUBSTRING(
          CASE
            WHEN STARTS_WITH(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '+')
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            WHEN STARTS_WITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              '00'
            )
            THEN '+' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              3
            )
            WHEN STARTS_WITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              '0'
            )
            THEN '+1' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              2
            )
            WHEN LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            ) IN (10)
            THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            WHEN STARTS_WITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              '1'
            )
            AND LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            ) IN (11)
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
          END,
          2
        ),
        SUBSTRING(
          CASE
            WHEN STARTS_WITH(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '+')
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            WHEN STARTS_WITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              '00'
            )
            THEN '+' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              3
            )
            WHEN STARTS_WITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              '0'
            )
            THEN '+1' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              2
            )
            WHEN LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            ) IN (10)
            THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            WHEN STARTS_WITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
              '1'
            )
            AND LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
            ) IN (11)
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
          END,
          2,
          1
        ),
        ''
      ) <> ''
      THEN CASE
        WHEN STARTS_WITH(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '+')
        THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
        WHEN STARTS_WITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
          '00'
        )
        THEN '+' || SUBSTRING(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
          3
        )
        WHEN STARTS_WITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
          '0'
        )
        THEN '+1' || SUBSTRING(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
          2
        )
        WHEN LENGTH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
        ) IN (10)
        THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
        WHEN STARTS_WITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g'),
          '1'
        )
        AND LENGTH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
        ) IN (11)
        THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST("phone" AS TEXT)), '[(]0[)]', '', 'g'), '[^0-9]', '', 'g')
      END
    END AS phone,
    CAST(NULL AS TEXT) AS user_id,
    CAST(NULL AS TEXT) AS anonymous_id,
    CAST(NULL AS TEXT) AS crm_id,
    CAST(NULL AS TEXT) AS extra_ids,
    JSON_OBJECT(
      'receipt', CAST("receipt" AS TEXT),
      'sold_at', CAST("sold_at" AS TEXT),
      'total', CAST("total" AS TEXT),
      'card', CAST("card" AS TEXT),
      'email', CAST("email" AS TEXT),
      'phone', CAST("phone" AS TEXT),
      'promo', CAST("promo" AS TEXT)
    ) AS _raw_json,
    CAST(NULL AS TEXT) AS _attributes,
    _file,
    _row
  FROM stage
) AS typed
