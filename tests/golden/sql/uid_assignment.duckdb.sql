SELECT
  f.component,
  COALESCE(s.uid, 'p' || SUBSTRING(MD5('salt' || f.founder), 1, 15)) AS uid
FROM (
  SELECT
    o.component,
    n.id_type || ':' || n.id_value AS founder
  FROM (
    SELECT
      component,
      ARG_MIN(node, age) AS node
    FROM (
      SELECT
        n.node,
        l.component,
        p.uid AS old_uid,
        {'seen': n.first_seen, 'node': n.node} AS age
      FROM _nodes AS n
      JOIN _labels AS l
        ON n.node = l.node
      LEFT JOIN _previous AS p
        ON p.id_type = n.id_type AND p.id_value = n.id_value
    ) AS a
    GROUP BY
      component
  ) AS o
  JOIN _nodes AS n
    ON n.node = o.node
) AS f
LEFT JOIN (
  SELECT
    component,
    ARG_MIN(old_uid, age) AS uid
  FROM (
    SELECT
      old_uid,
      ARG_MIN(component, age) AS component,
      MIN(age) AS age
    FROM (
      SELECT
        n.node,
        l.component,
        p.uid AS old_uid,
        {'seen': n.first_seen, 'node': n.node} AS age
      FROM _nodes AS n
      JOIN _labels AS l
        ON n.node = l.node
      LEFT JOIN _previous AS p
        ON p.id_type = n.id_type AND p.id_value = n.id_value
    ) AS a
    WHERE
      NOT old_uid IS NULL
    GROUP BY
      old_uid
  ) AS o
  GROUP BY
    component
) AS s
  ON f.component = s.component
