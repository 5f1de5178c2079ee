/*
 * The transforms' inner loops, in C: what Python cannot do fast enough per byte.
 *
 * - convert: CSV records to typed JSON Lines in one pass, each value checked against its
 *   column's kind and the lineage added; rejects returned with their line and raw text.
 * - survey: the kinds of value in each column of the first records (the type inference).
 *   Both take the header, blank lines and records of another width by one rule, classify_record.
 * - jsonl_lines: JSON Lines copied line by line with the lineage added before each closing brace
 *   (msgspec validates the same lines in bulk; Python falls back line by line on a bad one).
 *
 * Python keeps every decision (dialect, header names, column types, null markers, lineage,
 * UTF-8 validation, the reject threshold). Each function reads a buffer of whole UTF-8 text and
 * says how far it got, so the caller streams a file of any size through a bounded buffer.
 *
 * CSV parsing follows Python's csv module in strict mode, which the tests compare against: a
 * quote opens a field only at its start, "" inside a quoted field is a quote, a quote elsewhere
 * is a literal character, \r\n, \n and a lone \r end a record, a quoted field must be followed by
 * the delimiter or the end of the record (otherwise the record is rejected up to the end of its
 * physical line), and an empty line is skipped.
 *
 * Only the stable ABI is used, so one build serves every CPython from 3.11 on; stacks/bundling.py
 * cross-compiles this file for the functions' architecture.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INT_DIGITS 18 /* fits a signed 64-bit integer whatever the digits */
#define RAW_BYTES 4096    /* bytes of a rejected record kept; Python truncates to characters */

/* Column kinds: one byte each in the `kinds` argument. */
enum {
    KIND_STRING = 's',
    KIND_INTEGER = 'i',
    KIND_FLOAT = 'f',
    KIND_BOOLEAN = 'b',
    KIND_DATE = 'd',
    KIND_TIMESTAMP = 't',
    KIND_NULL = 'n',
};

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buffer;

static int buffer_reserve(Buffer *buffer, Py_ssize_t extra) {
    if (buffer->len + extra <= buffer->cap) {
        return 0;
    }
    Py_ssize_t cap = buffer->cap ? buffer->cap : 1 << 16;
    while (cap < buffer->len + extra) {
        cap *= 2;
    }
    char *data = realloc(buffer->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buffer->data = data;
    buffer->cap = cap;
    return 0;
}

static int buffer_add(Buffer *buffer, const char *bytes, Py_ssize_t len) {
    if (buffer_reserve(buffer, len) < 0) {
        return -1;
    }
    memcpy(buffer->data + buffer->len, bytes, (size_t)len);
    buffer->len += len;
    return 0;
}

/* ---- value kinds ------------------------------------------------------------------------ */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* -?(0|[1-9][0-9]*) with at most MAX_INT_DIGITS digits: exactly JSON's integers, no leading
 * zeros (a code like 00042 is a string), no sign other than minus, no spaces. */
static int is_integer(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    Py_ssize_t digits = n - i;
    if (digits < 1 || digits > MAX_INT_DIGITS) {
        return 0;
    }
    if (s[i] == '0' && digits > 1) {
        return 0;
    }
    for (; i < n; i++) {
        if (!is_digit(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* JSON's number grammar with a fraction or an exponent (an integer is is_integer's). */
static int is_float(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    int fraction_or_exponent = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    if (i >= n || !is_digit(s[i])) {
        return 0;
    }
    if (s[i] == '0') {
        i++;
    } else {
        while (i < n && is_digit(s[i])) {
            i++;
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i])) {
            return 0;
        }
        while (i < n && is_digit(s[i])) {
            i++;
        }
        fraction_or_exponent = 1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= n || !is_digit(s[i])) {
            return 0;
        }
        while (i < n && is_digit(s[i])) {
            i++;
        }
        fraction_or_exponent = 1;
    }
    return i == n && fraction_or_exponent;
}

static int lower_equals(const unsigned char *s, Py_ssize_t n, const char *word) {
    Py_ssize_t len = (Py_ssize_t)strlen(word);
    if (n != len) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c + ('a' - 'A'));
        }
        if (c != (unsigned char)word[i]) {
            return 0;
        }
    }
    return 1;
}

/* 1 for true, 0 for false (any letter case), -1 for anything else. */
static int boolean_value(const unsigned char *s, Py_ssize_t n) {
    if (lower_equals(s, n, "true")) {
        return 1;
    }
    if (lower_equals(s, n, "false")) {
        return 0;
    }
    return -1;
}

static int two_digits(const unsigned char *s, int *value) {
    if (!is_digit(s[0]) || !is_digit(s[1])) {
        return 0;
    }
    *value = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

/* YYYY-MM-DD, a real calendar day. */
static int is_date(const unsigned char *s, Py_ssize_t n) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int century, year_low, month, day;
    if (n != 10 || s[4] != '-' || s[7] != '-') {
        return 0;
    }
    if (!two_digits(s, &century) || !two_digits(s + 2, &year_low) || !two_digits(s + 5, &month) ||
        !two_digits(s + 8, &day)) {
        return 0;
    }
    int year = century * 100 + year_low;
    if (year < 1 || month < 1 || month > 12 || day < 1) {
        return 0;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= days[month - 1] + (month == 2 && leap);
}

/* YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH] */
static int is_timestamp(const unsigned char *s, Py_ssize_t n) {
    int hour, minute, second, zone_hour, zone_minute;
    if (n < 16 || !is_date(s, 10) || (s[10] != 'T' && s[10] != ' ')) {
        return 0;
    }
    if (!two_digits(s + 11, &hour) || s[13] != ':' || !two_digits(s + 14, &minute) || hour > 23 || minute > 59) {
        return 0;
    }
    Py_ssize_t i = 16;
    if (i < n && s[i] == ':') {
        if (i + 3 > n || !two_digits(s + i + 1, &second) || second > 59) {
            return 0;
        }
        i += 3;
        if (i < n && s[i] == '.') {
            Py_ssize_t start = ++i;
            while (i < n && is_digit(s[i])) {
                i++;
            }
            if (i == start || i - start > 9) {
                return 0;
            }
        }
    }
    if (i == n) {
        return 1;
    }
    if (s[i] == 'Z') {
        return i + 1 == n;
    }
    if (s[i] != '+' && s[i] != '-') {
        return 0;
    }
    i++;
    if (i + 2 > n || !two_digits(s + i, &zone_hour) || zone_hour > 23) {
        return 0;
    }
    i += 2;
    if (i == n) {
        return 1;
    }
    if (s[i] == ':') {
        i++;
    }
    return i + 2 == n && two_digits(s + i, &zone_minute) && zone_minute <= 59;
}

static char kind_of(const unsigned char *s, Py_ssize_t n) {
    if (n == 0) {
        return KIND_NULL;
    }
    if (is_integer(s, n)) {
        return KIND_INTEGER;
    }
    if (is_float(s, n)) {
        return KIND_FLOAT;
    }
    if (boolean_value(s, n) >= 0) {
        return KIND_BOOLEAN;
    }
    if (is_date(s, n)) {
        return KIND_DATE;
    }
    if (is_timestamp(s, n)) {
        return KIND_TIMESTAMP;
    }
    return KIND_STRING;
}

/* ---- JSON output ------------------------------------------------------------------------- */

static const char HEX[] = "0123456789abcdef";

static int add_json_string(Buffer *out, const unsigned char *s, Py_ssize_t n) {
    /* Worst case: every byte becomes \u00XX. */
    if (buffer_reserve(out, n * 6 + 2) < 0) {
        return -1;
    }
    char *w = out->data + out->len;
    *w++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
            case '"': *w++ = '"'; break;
            case '\\': *w++ = '\\'; break;
            case '\n': *w++ = 'n'; break;
            case '\r': *w++ = 'r'; break;
            case '\t': *w++ = 't'; break;
            case '\b': *w++ = 'b'; break;
            case '\f': *w++ = 'f'; break;
            default:
                *w++ = 'u';
                *w++ = '0';
                *w++ = '0';
                *w++ = HEX[c >> 4];
                *w++ = HEX[c & 15];
        }
    }
    *w++ = '"';
    out->len = w - out->data;
    return 0;
}

typedef struct {
    const char *data;
    Py_ssize_t len;
} Bytes;

typedef struct {
    const char *kinds;      /* one kind per column */
    Bytes *names;           /* each column's JSON key and colon, e.g. "id": */
    Bytes *nulls;           /* values written as null (besides the empty value) */
    Py_ssize_t null_count;
    const char *suffix;     /* lineage fields up to the line number, e.g. ,"_line": */
    Py_ssize_t suffix_len;
    Py_ssize_t *mismatches; /* per column: values that were not of the column's kind */
} Layout;

/* The bytes objects of a tuple as pointers, read once per call instead of once per value. */
static Bytes *bytes_of(PyObject *tuple, const char *what) {
    Py_ssize_t count = PyTuple_Size(tuple);
    Bytes *items = calloc((size_t)(count ? count : 1), sizeof(Bytes));
    if (items == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GetItem(tuple, i);
        if (!PyBytes_Check(item)) {
            free(items);
            PyErr_Format(PyExc_TypeError, "%s must hold bytes only", what);
            return NULL;
        }
        items[i] = (Bytes){PyBytes_AsString(item), PyBytes_Size(item)};
    }
    return items;
}

static int is_null_marker(const Layout *layout, const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < layout->null_count; i++) {
        if (layout->nulls[i].len == n && memcmp(layout->nulls[i].data, s, (size_t)n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int add_value(Buffer *out, const Layout *layout, Py_ssize_t column, const unsigned char *s, Py_ssize_t n) {
    if (n == 0 || is_null_marker(layout, s, n)) {
        return buffer_add(out, "null", 4);
    }
    switch (layout->kinds[column]) {
        case KIND_INTEGER:
            if (is_integer(s, n)) {
                return buffer_add(out, (const char *)s, n);
            }
            break;
        case KIND_FLOAT:
            if (is_integer(s, n) || is_float(s, n)) {
                return buffer_add(out, (const char *)s, n);
            }
            break;
        case KIND_BOOLEAN: {
            int value = boolean_value(s, n);
            if (value >= 0) {
                return value ? buffer_add(out, "true", 4) : buffer_add(out, "false", 5);
            }
            break;
        }
        case KIND_DATE:
            if (is_date(s, n)) {
                return add_json_string(out, s, n);
            }
            break;
        case KIND_TIMESTAMP:
            if (is_timestamp(s, n)) {
                return add_json_string(out, s, n);
            }
            break;
        default:
            return add_json_string(out, s, n);
    }
    /* Not of the column's kind: kept, as the string it is, and counted for the manifest. */
    layout->mismatches[column]++;
    return add_json_string(out, s, n);
}

/* ---- CSV parsing ------------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t start; /* offset of the value (inside the quotes when quoted) */
    Py_ssize_t len;
    int escaped;      /* a quoted value holding "" pairs to collapse */
} Field;

typedef enum { RECORD_OK, RECORD_MALFORMED, RECORD_INCOMPLETE } RecordStatus;

/* Why a malformed record is malformed; problem_reason() words it. */
typedef enum { PROBLEM_NONE, PROBLEM_UNEXPECTED_END, PROBLEM_TEXT_AFTER_QUOTE } Problem;

typedef struct {
    Field *fields;
    Py_ssize_t count;
    Py_ssize_t cap;
    Py_ssize_t end;        /* offset after the record and its line break */
    Py_ssize_t line_breaks;
    Problem problem;       /* why a malformed record is malformed */
} Record;

static int record_add_field(Record *record, Py_ssize_t start, Py_ssize_t len, int escaped) {
    if (record->count == record->cap) {
        Py_ssize_t cap = record->cap ? record->cap * 2 : 64;
        Field *fields = realloc(record->fields, (size_t)cap * sizeof(Field));
        if (fields == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        record->fields = fields;
        record->cap = cap;
    }
    record->fields[record->count++] = (Field){start, len, escaped};
    return 0;
}

/* Offset after the line break at `p` (\r\n, \n or \r), or -1 when a \r ends an unfinished buffer. */
static Py_ssize_t after_line_break(const char *s, Py_ssize_t p, Py_ssize_t end, int final) {
    if (s[p] == '\r') {
        if (p + 1 < end) {
            return s[p + 1] == '\n' ? p + 2 : p + 1;
        }
        return final ? p + 1 : -1;
    }
    return p + 1;
}

/* Line breaks inside a quoted value: \r\n, \n and a lone \r each count once, as csv counts them. */
static Py_ssize_t count_line_breaks(const char *s, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t breaks = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= end || s[i + 1] != '\n'))) {
            breaks++;
        }
    }
    return breaks;
}

/* After a malformed record, csv drops the rest of the physical line and starts afresh. */
static Py_ssize_t skip_line(const char *s, Py_ssize_t p, Py_ssize_t end, int final, Record *record) {
    while (p < end && s[p] != '\n' && s[p] != '\r') {
        p++;
    }
    if (p == end) {
        return final ? end : -1;
    }
    Py_ssize_t next = after_line_break(s, p, end, final);
    if (next >= 0) {
        record->line_breaks++;
    }
    return next;
}

static RecordStatus parse_record(const char *s, Py_ssize_t p, Py_ssize_t end, int final, char delimiter,
                                 Record *record) {
    record->count = 0;
    record->line_breaks = 0;
    record->problem = PROBLEM_NONE;
    for (;;) {
        if (p < end && s[p] == '"') {
            Py_ssize_t start = p + 1;
            Py_ssize_t q = start;
            int escaped = 0;
            for (;;) {
                const char *quote = memchr(s + q, '"', (size_t)(end - q));
                if (quote == NULL) {
                    if (!final) {
                        return RECORD_INCOMPLETE;
                    }
                    record->problem = PROBLEM_UNEXPECTED_END;
                    record->line_breaks += count_line_breaks(s, start, end);
                    record->end = end;
                    return RECORD_MALFORMED;
                }
                q = quote - s;
                if (q + 1 < end && s[q + 1] == '"') {
                    escaped = 1;
                    q += 2;
                    continue;
                }
                if (q + 1 == end && !final) {
                    return RECORD_INCOMPLETE;
                }
                break;
            }
            record->line_breaks += count_line_breaks(s, start, q);
            if (record_add_field(record, start, q - start, escaped) < 0) {
                return RECORD_MALFORMED;
            }
            p = q + 1;
            if (p < end && s[p] != delimiter && s[p] != '\n' && s[p] != '\r') {
                record->problem = PROBLEM_TEXT_AFTER_QUOTE;
                Py_ssize_t next = skip_line(s, p, end, final, record);
                if (next < 0) {
                    return RECORD_INCOMPLETE;
                }
                record->end = next;
                return RECORD_MALFORMED;
            }
        } else {
            Py_ssize_t start = p;
            while (p < end && s[p] != delimiter && s[p] != '\n' && s[p] != '\r') {
                p++;
            }
            if (p == end && !final) {
                return RECORD_INCOMPLETE;
            }
            if (record_add_field(record, start, p - start, 0) < 0) {
                return RECORD_MALFORMED;
            }
        }
        if (p < end && s[p] == delimiter) {
            p++;
            continue;
        }
        if (p == end) {
            record->end = end;
            return RECORD_OK;
        }
        Py_ssize_t next = after_line_break(s, p, end, final);
        if (next < 0) {
            return RECORD_INCOMPLETE;
        }
        record->line_breaks++;
        record->end = next;
        return RECORD_OK;
    }
}

/* The words of csv's error for a malformed record, as a new reference (NULL on failure). */
static PyObject *problem_reason(Problem problem, int delimiter) {
    if (problem == PROBLEM_TEXT_AFTER_QUOTE) {
        return PyUnicode_FromFormat("malformed CSV: '%c' expected after '\"'", delimiter);
    }
    return PyUnicode_FromString("malformed CSV: unexpected end of data");
}

typedef enum {
    NOT_BLANK,
    BLANK_SPACES, /* one field of white space only (or a quoted empty one): a padded empty line */
    EMPTY_LINE,   /* nothing before the line break: csv yields no field for it */
} Blankness;

static Blankness blankness(const char *s, const Record *record, Py_ssize_t record_start) {
    if (record->count != 1) {
        return NOT_BLANK;
    }
    const Field *field = &record->fields[0];
    if (field->len == 0 && field->start == record_start) {
        return EMPTY_LINE;
    }
    for (Py_ssize_t i = 0; i < field->len; i++) {
        char c = s[field->start + i];
        if (c != ' ' && c != '\t' && c != '\v' && c != '\f') {
            return NOT_BLANK;
        }
    }
    return BLANK_SPACES;
}

typedef enum {
    LINE_SKIPPED,     /* a blank line: neither the header nor a record */
    LINE_HEADER,      /* the header: its names are the dialect's, so it is not read here */
    LINE_RECORD,      /* a record of the header's width */
    LINE_MALFORMED,   /* a record csv cannot parse: record->problem says why */
    LINE_WRONG_WIDTH, /* a record of another width than the header */
} LineClass;

/* What a parsed record is, by the rules convert and survey share (and that Python's
 * tasks.common.records.is_blank_row states for Fetch): an empty line is always skipped; before
 * the header any blank line is; after it, a line of spaces is a record of a one-column file and
 * skipped in any other. */
static LineClass classify_record(const char *s, const Record *record, RecordStatus status, Py_ssize_t record_start,
                                 Py_ssize_t columns, int header) {
    if (status == RECORD_MALFORMED) {
        return LINE_MALFORMED;
    }
    Blankness blank = blankness(s, record, record_start);
    if (blank == EMPTY_LINE || (blank == BLANK_SPACES && (header || columns != 1))) {
        return LINE_SKIPPED;
    }
    if (record->count != columns) {
        return LINE_WRONG_WIDTH;
    }
    return header ? LINE_HEADER : LINE_RECORD;
}

static int add_reject(PyObject *rejects, Py_ssize_t line, PyObject *reason, const char *s, Py_ssize_t start,
                      Py_ssize_t end) {
    Py_ssize_t len = end - start;
    while (len > 0 && (s[start + len - 1] == '\n' || s[start + len - 1] == '\r')) {
        len--;
    }
    if (len > RAW_BYTES) {
        len = RAW_BYTES;
    }
    PyObject *item = Py_BuildValue("(nOy#)", line, reason, s + start, len);
    if (item == NULL) {
        return -1;
    }
    int failed = PyList_Append(rejects, item);
    Py_DECREF(item);
    return failed;
}

/* The decimal digits of a non-negative number, then "}\n": the end of every record. */
static int add_line_number(Buffer *out, Py_ssize_t line) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + line % 10);
        line /= 10;
    } while (line > 0);
    if (buffer_reserve(out, count + 2) < 0) {
        return -1;
    }
    while (count > 0) {
        out->data[out->len++] = digits[--count];
    }
    out->data[out->len++] = '}';
    out->data[out->len++] = '\n';
    return 0;
}

static int add_record(Buffer *out, const Layout *layout, const char *s, const Record *record, Py_ssize_t line,
                      Buffer *scratch) {
    if (buffer_add(out, "{", 1) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < record->count; i++) {
        const Field *field = &record->fields[i];
        if (i > 0 && buffer_add(out, ",", 1) < 0) {
            return -1;
        }
        if (buffer_add(out, layout->names[i].data, layout->names[i].len) < 0) {
            return -1;
        }
        const unsigned char *value = (const unsigned char *)s + field->start;
        Py_ssize_t len = field->len;
        if (field->escaped) {
            scratch->len = 0;
            if (buffer_reserve(scratch, len) < 0) {
                return -1;
            }
            for (Py_ssize_t j = 0; j < len; j++) {
                scratch->data[scratch->len++] = (char)value[j];
                if (value[j] == '"') {
                    j++; /* the second quote of a "" pair */
                }
            }
            value = (const unsigned char *)scratch->data;
            len = scratch->len;
        }
        if (add_value(out, layout, i, value, len) < 0) {
            return -1;
        }
    }
    if (buffer_add(out, layout->suffix, layout->suffix_len) < 0) {
        return -1;
    }
    return add_line_number(out, line);
}

/* convert's result: a struct sequence, so that the caller reads each field by its name. */
static PyStructSequence_Field converted_fields[] = {
    {"output", "the JSON Lines of the records converted"},
    {"end", "offset of the first byte not converted: an unfinished record, or the line after a bad header"},
    {"line", "the line number at end"},
    {"header", "whether the header is still to come"},
    {"records", "how many records output holds"},
    {"rejects", "(line, reason, raw bytes) of each rejected record"},
    {"mismatches", "per column, the values kept as strings because they were not of the column's kind"},
    {"header_problem", "why the header cannot be read, or None"},
    {NULL, NULL},
};

static PyStructSequence_Desc converted_desc = {
    "_csvjson.Converted",
    "What convert() made of a buffer.",
    converted_fields,
    sizeof converted_fields / sizeof converted_fields[0] - 1,
};

static PyTypeObject *ConvertedType; /* made once, by the module's initialization */

/* A new struct sequence of `type` holding `items`, new references that it steals even when it
 * fails; NULL if an item is NULL (its creation failed) or on failure. */
static PyObject *new_struct(PyTypeObject *type, PyObject **items, Py_ssize_t count) {
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (items[i] == NULL) {
            goto fail;
        }
    }
    result = PyStructSequence_New(type);
    if (result == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyStructSequence_SetItem(result, i, items[i]);
    }
    return result;
fail:
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_XDECREF(items[i]);
    }
    return NULL;
}

PyDoc_STRVAR(convert_doc,
             "convert(data, start, final, delimiter, names, kinds, nulls, suffix, line, header)\n"
             "--\n\n"
             "Convert the whole CSV records of data[start:] to JSON Lines.\n\n"
             "Returns a Converted: output, end, line, header, records, rejects, mismatches, header_problem.");

static PyObject *convert(PyObject *self, PyObject *args) {
    Py_buffer data, kinds, suffix;
    Py_ssize_t start, line;
    int final, delimiter, header;
    PyObject *names, *nulls;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*npCO!y*O!y*np", &data, &start, &final, &delimiter, &PyTuple_Type, &names,
                          &kinds, &PyTuple_Type, &nulls, &suffix, &line, &header)) {
        return NULL;
    }
    PyObject *result = NULL, *rejects = NULL, *mismatch_list = NULL, *header_problem = NULL;
    Buffer out = {0}, scratch = {0};
    Record record = {0};
    Py_ssize_t columns = PyTuple_Size(names);
    Py_ssize_t *mismatches = calloc((size_t)(columns ? columns : 1), sizeof(Py_ssize_t));
    Bytes *name_bytes = bytes_of(names, "names");
    Bytes *null_bytes = name_bytes ? bytes_of(nulls, "nulls") : NULL;
    Py_ssize_t records = 0;
    if (name_bytes == NULL || null_bytes == NULL) {
        goto done;
    }
    if (mismatches == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (kinds.len != columns) {
        PyErr_SetString(PyExc_ValueError, "kinds must hold one kind per name");
        goto done;
    }
    rejects = PyList_New(0);
    if (rejects == NULL) {
        goto done;
    }
    Layout layout = {kinds.buf, name_bytes, null_bytes, PyTuple_Size(nulls), suffix.buf, suffix.len, mismatches};
    const char *s = data.buf;
    Py_ssize_t end = data.len;
    Py_ssize_t p = start;
    while (p < end) {
        RecordStatus status = parse_record(s, p, end, final, (char)delimiter, &record);
        if (PyErr_Occurred()) {
            goto done;
        }
        if (status == RECORD_INCOMPLETE) {
            break;
        }
        Py_ssize_t record_line = line;
        line += record.line_breaks;
        LineClass kind = classify_record(s, &record, status, p, columns, header);
        if (kind == LINE_MALFORMED || kind == LINE_WRONG_WIDTH) {
            PyObject *reason =
                kind == LINE_MALFORMED ? problem_reason(record.problem, delimiter)
                : header ? PyUnicode_FromString("the header has another number of fields than the dialect")
                         : PyUnicode_FromFormat("expected %zd fields, found %zd", columns, record.count);
            if (reason == NULL) {
                goto done;
            }
            if (header) {
                /* Without its header the file has no names to convert by: the caller fails it. */
                header_problem = reason;
                p = record.end;
                break;
            }
            int failed = add_reject(rejects, record_line, reason, s, p, record.end) < 0;
            Py_DECREF(reason);
            if (failed) {
                goto done;
            }
        } else if (kind == LINE_HEADER) {
            header = 0;
        } else if (kind == LINE_RECORD) {
            if (add_record(&out, &layout, s, &record, record_line, &scratch) < 0) {
                goto done;
            }
            records++;
        }
        p = record.end;
    }
    mismatch_list = PyTuple_New(columns);
    if (mismatch_list == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < columns; i++) {
        PyObject *count = PyLong_FromSsize_t(mismatches[i]);
        if (count == NULL) {
            goto done;
        }
        PyTuple_SetItem(mismatch_list, i, count);
    }
    PyObject *fields[] = {
        PyBytes_FromStringAndSize(out.data ? out.data : "", out.len),
        PyLong_FromSsize_t(p),
        PyLong_FromSsize_t(line),
        PyBool_FromLong(header),
        PyLong_FromSsize_t(records),
        Py_NewRef(rejects),
        Py_NewRef(mismatch_list),
        Py_NewRef(header_problem ? header_problem : Py_None),
    };
    result = new_struct(ConvertedType, fields, sizeof fields / sizeof fields[0]);
done:
    Py_XDECREF(header_problem);
    Py_XDECREF(rejects);
    Py_XDECREF(mismatch_list);
    free(out.data);
    free(scratch.data);
    free(record.fields);
    free(mismatches);
    free(name_bytes);
    free(null_bytes);
    PyBuffer_Release(&data);
    PyBuffer_Release(&kinds);
    PyBuffer_Release(&suffix);
    return result;
}

PyDoc_STRVAR(survey_doc,
             "survey(data, final, delimiter, columns, nulls, limit)\n"
             "--\n\n"
             "The kinds of value found in each column of the first `limit` records after the header,\n"
             "as one string of kind letters per column. Records of another width, and those csv cannot\n"
             "parse, are not looked at.");

static PyObject *survey(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t columns, limit;
    int final, delimiter;
    PyObject *nulls, *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*pCnO!n", &data, &final, &delimiter, &columns, &PyTuple_Type, &nulls, &limit)) {
        return NULL;
    }
    static const char KINDS[] = "nifbdts";
    Record record = {0};
    Bytes *null_bytes = bytes_of(nulls, "nulls");
    unsigned char *seen = calloc((size_t)(columns ? columns : 1), 1); /* one bit per letter of KINDS */
    if (null_bytes == NULL || seen == NULL) {
        if (null_bytes != NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    Layout layout = {NULL, NULL, null_bytes, PyTuple_Size(nulls), NULL, 0, NULL};
    const char *s = data.buf;
    Py_ssize_t p = 0, looked = 0;
    int header = 1;
    while (p < data.len && looked < limit) {
        RecordStatus status = parse_record(s, p, data.len, final, (char)delimiter, &record);
        if (PyErr_Occurred()) {
            goto done;
        }
        if (status == RECORD_INCOMPLETE) {
            break;
        }
        LineClass kind = classify_record(s, &record, status, p, columns, header);
        if (kind == LINE_HEADER) {
            header = 0;
        } else if (kind == LINE_RECORD) {
            for (Py_ssize_t i = 0; i < columns; i++) {
                const Field *field = &record.fields[i];
                const unsigned char *value = (const unsigned char *)s + field->start;
                /* An escaped value holds a quote, so it is a string whatever its other characters. */
                char code = field->escaped ? KIND_STRING
                            : is_null_marker(&layout, value, field->len) ? KIND_NULL
                                                                         : kind_of(value, field->len);
                seen[i] |= (unsigned char)(1 << (strchr(KINDS, code) - KINDS));
            }
            looked++;
        }
        p = record.end;
    }
    result = PyTuple_New(columns);
    for (Py_ssize_t i = 0; result != NULL && i < columns; i++) {
        char letters[sizeof KINDS];
        Py_ssize_t count = 0;
        for (int bit = 0; KINDS[bit] != 0; bit++) {
            if (seen[i] & (1 << bit)) {
                letters[count++] = KINDS[bit];
            }
        }
        PyObject *item = PyUnicode_FromStringAndSize(letters, count);
        if (item == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SetItem(result, i, item);
    }
done:
    free(record.fields);
    free(null_bytes);
    free(seen);
    PyBuffer_Release(&data);
    return result;
}

/* ---- JSON Lines ------------------------------------------------------------------------- */

static int is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

PyDoc_STRVAR(lines_doc,
             "jsonl_lines(block, suffix, line)\n"
             "--\n\n"
             "The lines of block, each stripped of JSON whitespace, blank ones skipped, as\n"
             "(output, array, count): output holds each line with suffix and its line number added\n"
             "before its closing brace, array holds the lines as the elements of one JSON array for\n"
             "msgspec to validate at once. None when a line is not shaped like an object: the caller\n"
             "then looks at each line.");

static PyObject *jsonl_lines(PyObject *self, PyObject *args) {
    Py_buffer block, suffix;
    Py_ssize_t line;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*n", &block, &suffix, &line)) {
        return NULL;
    }
    PyObject *result = NULL;
    Buffer out = {0}, array = {0};
    Py_ssize_t count = 0;
    const char *s = block.buf;
    Py_ssize_t end = block.len, p = 0;
    int shaped = 1;
    if (buffer_add(&array, "[", 1) < 0) {
        goto done;
    }
    while (p < end) {
        const char *newline = memchr(s + p, '\n', (size_t)(end - p));
        Py_ssize_t stop = newline ? newline - s : end;
        Py_ssize_t first = p, last = stop;
        while (first < last && is_json_space(s[first])) {
            first++;
        }
        while (last > first && is_json_space(s[last - 1])) {
            last--;
        }
        if (first < last) {
            if (s[first] != '{' || s[last - 1] != '}') {
                shaped = 0;
                break;
            }
            Py_ssize_t body = last - 1; /* without the closing brace, then without the space before it */
            while (body > first + 1 && is_json_space(s[body - 1])) {
                body--;
            }
            int empty = body == first + 1;
            if ((count > 0 && buffer_add(&array, ",", 1) < 0) || buffer_add(&array, s + first, last - first) < 0 ||
                buffer_add(&out, s + first, body - first) < 0 ||
                buffer_add(&out, (const char *)suffix.buf + empty, suffix.len - empty) < 0 ||
                add_line_number(&out, line) < 0) {
                goto done;
            }
            count++;
        }
        line++;
        p = stop + 1;
    }
    if (!shaped) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (buffer_add(&array, "]", 1) < 0) {
        goto done;
    }
    result = Py_BuildValue("(y#y#n)", out.data ? out.data : "", out.len, array.data, array.len, count);
done:
    free(out.data);
    free(array.data);
    PyBuffer_Release(&block);
    PyBuffer_Release(&suffix);
    return result;
}

static PyMethodDef methods[] = {
    {"convert", convert, METH_VARARGS, convert_doc},
    {"survey", survey, METH_VARARGS, survey_doc},
    {"jsonl_lines", jsonl_lines, METH_VARARGS, lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_csvjson",
    .m_doc = "The transforms' inner loops: CSV records and JSON Lines to JSON Lines with lineage.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__csvjson(void) {
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) {
        return NULL;
    }
    ConvertedType = PyStructSequence_NewType(&converted_desc);
    if (ConvertedType == NULL || PyModule_AddObjectRef(created, "Converted", (PyObject *)ConvertedType) < 0) {
        Py_CLEAR(ConvertedType);
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
