-- Tables, bulk inserts, indexes, joins, grouping, window functions, views,
-- triggers, upserts and RETURNING.
CREATE TABLE dept(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO dept(name) VALUES ('compilers'), ('linkers'), ('runtime'), ('tools');
CREATE TABLE emp(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  dept INTEGER REFERENCES dept(id),
  salary REAL,
  hired TEXT,
  bonus REAL GENERATED ALWAYS AS (round(salary * 0.07, 2)) VIRTUAL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO emp(name, dept, salary, hired)
  SELECT printf('emp%04d', i), 1 + (i * 7) % 4, 30000 + (i * 7919) % 50000 + (i % 100) / 4.0,
         date('2001-01-01', '+' || (i * 37 % 8000) || ' days')
  FROM n;
CREATE INDEX emp_dept ON emp(dept, salary);
SELECT count(*), sum(salary), min(hired), max(hired), total(bonus) FROM emp;
SELECT d.name, count(*), round(avg(e.salary), 3), max(e.salary), min(e.name)
  FROM emp e JOIN dept d ON d.id = e.dept GROUP BY d.name ORDER BY d.name;
SELECT name, salary, rank() OVER w, round(salary - lag(salary, 1, 0) OVER w, 2),
       sum(salary) OVER (PARTITION BY dept ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
  FROM emp WHERE id % 613 = 0 WINDOW w AS (PARTITION BY dept ORDER BY salary DESC) ORDER BY id;
SELECT strftime('%Y', hired) AS y, count(*) FROM emp GROUP BY y HAVING count(*) > 230 ORDER BY y;
SELECT ntile(4) OVER (ORDER BY salary), name FROM emp WHERE id BETWEEN 100 AND 107 ORDER BY name;
CREATE VIEW rich AS SELECT name, salary FROM emp WHERE salary > 79500;
SELECT count(*), group_concat(name, ',') FROM (SELECT name FROM rich ORDER BY name LIMIT 5);
CREATE TABLE log(at INTEGER PRIMARY KEY, what TEXT);
CREATE TRIGGER raise AFTER UPDATE OF salary ON emp
  WHEN new.salary > old.salary * 1.5
  BEGIN INSERT INTO log(what) VALUES (old.name || ': ' || old.salary || ' -> ' || new.salary); END;
UPDATE emp SET salary = salary * 2 WHERE id % 1000 = 1;
SELECT * FROM log ORDER BY at;
CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER) STRICT;
INSERT INTO kv VALUES ('a', 1), ('b', 2) ON CONFLICT(k) DO UPDATE SET v = v + excluded.v;
INSERT INTO kv VALUES ('a', 10), ('c', 3) ON CONFLICT(k) DO UPDATE SET v = v + excluded.v RETURNING k, v;
SELECT k, v FROM kv ORDER BY k;
DELETE FROM emp WHERE dept = 4 AND salary < 30300 RETURNING id, name, salary;
SELECT dept, count(*) FROM emp GROUP BY dept ORDER BY dept;
-- A correlated subquery, EXISTS, IN, a compound select and a left join.
SELECT d.name, (SELECT count(*) FROM emp e WHERE e.dept = d.id AND e.salary > 70000)
  FROM dept d WHERE EXISTS (SELECT 1 FROM emp e WHERE e.dept = d.id) ORDER BY 1;
SELECT name FROM dept WHERE id IN (SELECT dept FROM emp WHERE name LIKE 'emp00_1')
  UNION SELECT 'none' EXCEPT SELECT 'linkers' ORDER BY 1;
INSERT INTO dept(name) VALUES ('empty');
SELECT d.name, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept = d.id GROUP BY d.id ORDER BY d.id;
-- The driver's own functions, aggregate and collation.
SELECT rot13('Hello, rtdyld!'), rot13(rot13('round trip')), rot13(NULL);
SELECT dept, median(salary) FROM emp GROUP BY dept ORDER BY dept;
SELECT name FROM dept ORDER BY name COLLATE bylength, name;
-- Transactions and savepoints.
BEGIN;
INSERT INTO dept(name) VALUES ('temporary');
SAVEPOINT s1;
DELETE FROM emp;
SELECT count(*) FROM emp;
ROLLBACK TO s1;
RELEASE s1;
ROLLBACK;
SELECT count(*), (SELECT count(*) FROM dept) FROM emp;
