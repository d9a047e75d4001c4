-- Text, numbers, dates and JSON: SQLite's own formatting and parsing code.
SELECT printf('%d|%5.2f|%-6s|%x|%o|%e|%g|%q|%c', 42, 3.14159, 'ab', 255, 8, 12345.678, 0.0001, 'it''s', 'zed');
SELECT printf('%,d', 1234567), printf('%.3s', 'abcdef'), printf('%08.3f', -2.5), printf('%!.20g', 0.1);
SELECT 1.0 / 3, 2e300 * 10, -0.0, 9223372036854775807 + 1, 10 / 3, 10 % 3, 7.5 % 2;
SELECT cast('12abc' AS INTEGER), cast(3.99 AS INTEGER), cast(x'414243' AS TEXT), typeof(1e3), typeof('1');
SELECT upper('straße'), lower('ÀB'), length('日本語'), octet_length('日本語'), unicode('€'), char(72, 105);
SELECT substr('abcdefgh', 3, 4), substr('abc', -2), instr('haystack', 'st'), replace('a-b-c', '-', '+');
SELECT trim('  x  '), ltrim('xxyx', 'x'), rtrim('yxx', 'x'), quote('a''b'), quote(x'00ff'), hex('Az');
SELECT 'abc' LIKE 'A%', 'abc' GLOB 'A*', 'a_c' LIKE 'a\_c' ESCAPE '\', coalesce(NULL, NULL, 'third'), nullif(3, 3), iif(1 > 2, 'y', 'n');
SELECT date('2024-02-28', '+1 day'), date('2023-02-28', '+1 day'), datetime('2000-01-01 12:00:00', '+90 minutes', 'start of day');
SELECT julianday('2000-01-01') - julianday('1970-01-01'), strftime('%j %w %H:%M:%S', '2021-12-31 23:59:58'), unixepoch('2038-01-19 03:14:08');
SELECT time('12:34:56', '+3600 seconds'), date('2024-01-31', '+1 month'), strftime('%s', '1970-01-02');
SELECT round(2.5), round(-2.5), round(1.005, 2), abs(-7), sign(-3), max(1, 'a', 2.5), min(3, 1.5);
SELECT sqrt(2), pow(2, 10), exp(1), ln(10), log10(1000), log(2, 1024), floor(-1.5), ceil(1.2), pi(), sin(0), atan2(1, 1), mod(7, 3);
SELECT json_object('a', 1, 'b', json_array(1, 2.5, 'x', NULL), 'c', json('{"d":true}'));
SELECT json_extract('{"a":{"b":[10,20,30]}}', '$.a.b[1]'), '{"x":[1,2]}' -> '$.x', '{"x":[1,2]}' ->> '$.x[0]';
SELECT key, value, type FROM json_each('{"n":1,"s":"t","a":[1],"o":{},"z":null}') ORDER BY key;
WITH v(v) AS (VALUES (1), (3), (2)) SELECT json_group_array(v ORDER BY v DESC), json_set('{"a":1}', '$.b', 2), json_remove('[1,2,3]', '$[1]'), json_valid('{bad}') FROM v;
SELECT fullkey, atom FROM json_tree('{"a":[1,{"b":2}]}') WHERE atom IS NOT NULL ORDER BY fullkey;
WITH v(v) AS (VALUES (3), (1), (2)) SELECT json_group_array(v) FROM v;
SELECT group_concat(c, '') FROM (WITH RECURSIVE s(i, c) AS (SELECT 1, 'a' UNION ALL SELECT i + 1, char(unicode(c) + 1) FROM s WHERE i < 26) SELECT c FROM s);
SELECT length(zeroblob(1000)), hex(zeroblob(3)), typeof(randomblob(4)), length(randomblob(16));
SELECT format('%s=%d', 'answer', 42), concat('a', NULL, 'b', 1), concat_ws('-', 'x', 'y', NULL, 'z'), unhex('414243');
SELECT sqlite_compileoption_used('ENABLE_FTS5'), sqlite_compileoption_used('ENABLE_RTREE');
-- Full-text search and R*Tree modules.
CREATE VIRTUAL TABLE docs USING fts5(title, body);
INSERT INTO docs VALUES ('linkers', 'A runtime linker loads relocatable objects into memory.'),
  ('compilers', 'A JIT compiler emits objects at run time and links them.'),
  ('editors', 'Nothing about objects or linking here, only text.');
SELECT title, highlight(docs, 1, '[', ']') FROM docs WHERE docs MATCH 'objects AND link*' ORDER BY rank;
SELECT title FROM docs WHERE docs MATCH 'NEAR(runtime linker, 2)';
CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1, y0, y1);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
INSERT INTO boxes SELECT i, i % 100, i % 100 + 2, i / 10, i / 10 + 3 FROM n;
SELECT count(*), min(id), max(id) FROM boxes WHERE x0 <= 50 AND x1 >= 49 AND y0 <= 20 AND y1 >= 18;
