/*
 * Where CSV records (and JSON Lines lines) start, found in a byte range without knowing what
 * precedes it: the first pass of a split (tasks/split/scan.py says how its results are used).
 *
 * What a record is, is decided by the CSV converter's parser (parse_record in
 * tasks/transform/_csvjson.c: Python's csv in strict mode). Where its records end depends only
 * on which bytes are quotes, the delimiter, \n, \r or anything else, and on one of seven states
 * the parser can be in between two bytes:
 *
 *   RECORD    at the first byte of a record
 *   FIELD     at the first byte of a field after a delimiter
 *   UNQUOTED  inside an unquoted field (a quote there is a literal character)
 *   QUOTED    inside a quoted field (delimiters and line breaks are part of the value)
 *   QUOTE     after a quote inside a quoted field: it closes the field, or a second quote follows
 *   SKIP      after text following a closing quote: the record is damaged and the parser drops
 *             the rest of the physical line
 *   CR        after a \r that ends a record: a \n next belongs to the same line break
 *
 * A record starts at a byte read in state RECORD, or in state CR when the byte is not \n.
 *
 * A range's first bytes may be read in any of the seven states, and which one only the ranges
 * before it know. So the scan follows all seven at once: it tracks the function "state at the
 * range start -> state now". The functions the five byte classes generate, composed, form a
 * small monoid (210 elements), numbered once at import; the scan then reads one table entry per
 * two bytes, whatever the start state. For each start state it reports the state at the end and
 * the first record start; a reduce step (tasks/split/cuts.py) composes the ranges in order.
 *
 * JSON Lines is the same machine with only \n special: states RECORD and UNQUOTED.
 *
 * Line breaks are counted apart, as the converter counts them: \n, \r\n and a lone \r are one
 * physical line each (the CSV `_line`), and the \n alone (JSON Lines' `_line`, and the line the
 * UTF-8 check names in its errors).
 *
 * Only the stable ABI is used, as in _csvjson.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { RECORD, FIELD, UNQUOTED, QUOTED, QUOTE, SKIP, CR, STATES };
enum { C_QUOTE, C_DELIMITER, C_LF, C_CR, C_OTHER, CLASSES };

#define ALL_STATES ((1u << STATES) - 1)
#define MAX_ELEMENTS 256

/* One byte of class c read in state s. */
static uint8_t transition(uint8_t s, uint8_t c) {
    switch (s) {
        case RECORD:
        case FIELD:
            break;
        case CR:
            if (c == C_LF) {
                return RECORD;
            }
            break;
        case UNQUOTED:
            return c == C_DELIMITER ? FIELD : c == C_LF ? RECORD : c == C_CR ? CR : UNQUOTED;
        case QUOTED:
            return c == C_QUOTE ? QUOTE : QUOTED;
        case QUOTE:
            return c == C_QUOTE ? QUOTED : c == C_DELIMITER ? FIELD : c == C_LF ? RECORD : c == C_CR ? CR : SKIP;
        default: /* SKIP */
            return c == C_LF ? RECORD : c == C_CR ? CR : SKIP;
    }
    /* The first byte of a record or a field (or after a lone \r: the next record's first byte). */
    return c == C_QUOTE ? QUOTED : c == C_DELIMITER ? FIELD : c == C_LF ? RECORD : c == C_CR ? CR : UNQUOTED;
}

static int starts_record(uint8_t s, uint8_t c) { return s == RECORD || (s == CR && c != C_LF); }

/* The monoid: element e maps each start state to a state (MAPS[e]); element 0 is the identity. */
static uint8_t MAPS[MAX_ELEMENTS][STATES];
static int ELEMENTS;
static uint8_t NEXT[MAX_ELEMENTS][CLASSES];
/* Start states whose trajectory starts a record at a byte of class c read in element e. */
static uint8_t STARTS[MAX_ELEMENTS][CLASSES];
/* Two bytes at once, by row (element * CLASSES²) and the classes of both: the row of the element
 * after them (low 16 bits, so that no multiplication waits on the table read) and the STARTS of
 * either byte (high 16 bits). */
#define ROW(element) ((element) * CLASSES * CLASSES)
static uint32_t PAIRS[MAX_ELEMENTS * CLASSES * CLASSES];

static int element_of(const uint8_t *map) {
    for (int e = 0; e < ELEMENTS; e++) {
        if (memcmp(MAPS[e], map, STATES) == 0) {
            return e;
        }
    }
    if (ELEMENTS == MAX_ELEMENTS) {
        return -1;
    }
    memcpy(MAPS[ELEMENTS], map, STATES);
    return ELEMENTS++;
}

/* Number every function reachable from the identity, breadth first, and fill the tables. */
static int build_monoid(void) {
    uint8_t map[STATES];
    for (int s = 0; s < STATES; s++) {
        map[s] = (uint8_t)s;
    }
    ELEMENTS = 0;
    element_of(map);
    for (int e = 0; e < ELEMENTS; e++) {
        for (int c = 0; c < CLASSES; c++) {
            uint8_t starts = 0;
            for (int s = 0; s < STATES; s++) {
                map[s] = transition(MAPS[e][s], (uint8_t)c);
                starts |= (uint8_t)(starts_record(MAPS[e][s], (uint8_t)c) << s);
            }
            int next = element_of(map);
            if (next < 0) {
                return -1;
            }
            NEXT[e][c] = (uint8_t)next;
            STARTS[e][c] = starts;
        }
    }
    for (int e = 0; e < ELEMENTS; e++) {
        for (int c1 = 0; c1 < CLASSES; c1++) {
            uint8_t middle = NEXT[e][c1];
            for (int c2 = 0; c2 < CLASSES; c2++) {
                uint32_t starts = STARTS[e][c1] | STARTS[middle][c2];
                PAIRS[ROW(e) + c1 * CLASSES + c2] = (uint32_t)ROW(NEXT[middle][c2]) | (starts << 16);
            }
        }
    }
    return 0;
}

/* The class of every byte: CSV with `delimiter`, or JSON Lines (delimiter < 0: only \n counts). */
static void classes_of(int delimiter, uint8_t *classes) {
    memset(classes, C_OTHER, 256);
    classes['\n'] = C_LF;
    if (delimiter >= 0) {
        classes['\r'] = C_CR;
        classes['"'] = C_QUOTE;
        classes[(unsigned char)delimiter] = C_DELIMITER;
    }
}

static int parse_delimiter(PyObject *delimiter, int *parsed) {
    if (delimiter == Py_None) {
        *parsed = -1;
        return 0;
    }
    Py_ssize_t size = 0;
    const char *text = PyUnicode_Check(delimiter) ? PyUnicode_AsUTF8AndSize(delimiter, &size) : NULL;
    if (text == NULL || size != 1 || text[0] == '"' || text[0] == '\n' || text[0] == '\r') {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "delimiter must be None or one ASCII character other than a quote or a line break");
        return -1;
    }
    *parsed = (unsigned char)text[0];
    return 0;
}

typedef struct {
    Py_ssize_t breaks;   /* \n, \r\n and lone \r */
    Py_ssize_t newlines; /* \n */
} Lines;

/* The line breaks in s[from:to); s[n] is `after` (-1: nothing follows, a final \r is lone). */
static void count_lines(const unsigned char *s, Py_ssize_t from, Py_ssize_t to, Py_ssize_t n, int after,
                        Lines *lines) {
    Py_ssize_t newlines = 0, lone = 0;
    Py_ssize_t last = to < n ? to : n - 1; /* s[i + 1] is in the buffer below `last` */
    /* Byte-wide counts over blocks of 255 bytes (they cannot overflow): the compiler then adds
     * sixteen bytes at once, twice as fast as with counts the width of a pointer. */
    for (Py_ssize_t i = from; i < last;) {
        Py_ssize_t stop = last - i > 255 ? i + 255 : last;
        uint8_t block_newlines = 0, block_lone = 0;
        for (; i < stop; i++) {
            block_newlines += s[i] == '\n';
            block_lone += (s[i] == '\r') & (s[i + 1] != '\n');
        }
        newlines += block_newlines;
        lone += block_lone;
    }
    for (Py_ssize_t i = last > from ? last : from; i < to; i++) {
        int next = i + 1 < n ? s[i + 1] : after;
        newlines += s[i] == '\n';
        lone += s[i] == '\r' && next != '\n';
    }
    lines->newlines += newlines;
    lines->breaks += newlines + lone;
}

typedef struct {
    int state;
    Py_ssize_t offset;
} Start;

/* One stretch of the buffer followed from its first byte: the element after it, and the first
 * record start of each state the stretch may start in (`first`, -1 for none). */
typedef struct {
    unsigned element;
    unsigned found; /* states whose first record start is known */
    Py_ssize_t first[STATES];
} Lane;

/* Step `lane` through s[p:end) one byte at a time, recording record starts. */
static void lane_walk(Lane *lane, const unsigned char *s, const uint8_t *classes, Py_ssize_t p, Py_ssize_t end) {
    unsigned e = lane->element;
    for (; p < end; p++) {
        uint8_t c = classes[s[p]];
        unsigned fresh = STARTS[e][c] & ~lane->found;
        for (int state = 0; fresh; state++, fresh >>= 1) {
            if (fresh & 1) {
                lane->first[state] = p;
                lane->found |= 1u << state;
            }
        }
        e = NEXT[e][c];
    }
    lane->element = e;
}

/* Two bytes per table read, the lane's row and found mask in registers; the rare step where a
 * record starts for a state not found yet is walked byte by byte. */
#define LANE_PAIR(lane, row, seen, p)                                                          \
    do {                                                                                       \
        uint32_t pair_ = PAIRS[(row) + classes[s[p]] * CLASSES + classes[s[(p) + 1]]];         \
        if (__builtin_expect((pair_ >> 16) & ~(seen), 0)) {                                    \
            (lane).element = (row) / ROW(1);                                                   \
            lane_walk(&(lane), s, classes, p, (p) + 2);                                        \
            seen = (lane).found;                                                               \
        }                                                                                      \
        row = pair_ & 0xffff;                                                                  \
    } while (0)

#define LANES 4
#define LANE_MIN_BYTES 4096 /* shorter buffers are followed in one lane */

/* The element of the map "start state -> MAPS[second][MAPS[first][start state]]". */
static unsigned compose(unsigned first, unsigned second) {
    uint8_t map[STATES];
    for (int state = 0; state < STATES; state++) {
        map[state] = MAPS[second][MAPS[first][state]];
    }
    return (unsigned)element_of(map); /* the monoid is closed: always found */
}

/* Follow s[0:n) from `element` (record starts already found for the states in `seen`).
 *
 * One table read per two bytes is a chain of dependent loads: each waits for the one before.
 * So the buffer is cut in four stretches followed side by side, each from the identity (the
 * state at its start is not known yet), which the processor overlaps; then they are composed
 * in order, as the reduce composes ranges. */
static Lane follow(const unsigned char *s, Py_ssize_t n, const uint8_t *classes, unsigned element, unsigned seen) {
    Lane lanes[LANES];
    int count = n >= LANES * LANE_MIN_BYTES ? LANES : 1;
    Py_ssize_t width = (n / count) & ~(Py_ssize_t)1, bounds[LANES + 1];
    for (int k = 0; k < count; k++) {
        lanes[k] = (Lane){k == 0 ? element : 0, k == 0 ? seen : 0, {-1, -1, -1, -1, -1, -1, -1}};
        bounds[k] = k * width;
    }
    bounds[count] = n;
    Py_ssize_t pairs = width / 2;
    if (count == LANES) {
        unsigned r0 = ROW(lanes[0].element), r1 = ROW(0), r2 = ROW(0), r3 = ROW(0);
        unsigned f0 = lanes[0].found, f1 = 0, f2 = 0, f3 = 0;
        const Py_ssize_t b1 = bounds[1], b2 = bounds[2], b3 = bounds[3];
        for (Py_ssize_t i = 0, p = 0; i < pairs; i++, p += 2) {
            LANE_PAIR(lanes[0], r0, f0, p);
            LANE_PAIR(lanes[1], r1, f1, b1 + p);
            LANE_PAIR(lanes[2], r2, f2, b2 + p);
            LANE_PAIR(lanes[3], r3, f3, b3 + p);
        }
        lanes[0].element = r0 / ROW(1);
        lanes[1].element = r1 / ROW(1);
        lanes[2].element = r2 / ROW(1);
        lanes[3].element = r3 / ROW(1);
        lane_walk(&lanes[LANES - 1], s, classes, bounds[LANES - 1] + 2 * pairs, n);
    } else {
        unsigned r0 = ROW(lanes[0].element), f0 = lanes[0].found;
        Py_ssize_t p = 0;
        for (; p + 1 < n; p += 2) {
            LANE_PAIR(lanes[0], r0, f0, p);
        }
        lanes[0].element = r0 / ROW(1);
        lane_walk(&lanes[0], s, classes, p, n);
    }
    /* Compose: a start state not yet found takes the next stretch's first record start for the
     * state it is in where that stretch begins. */
    Lane whole = lanes[0];
    for (int k = 1; k < count; k++) {
        for (int state = 0; state < STATES; state++) {
            int there = MAPS[whole.element][state];
            if (!(whole.found & (1u << state)) && (lanes[k].found & (1u << there))) {
                whole.first[state] = lanes[k].first[there];
                whole.found |= 1u << state;
            }
        }
        whole.element = compose(whole.element, lanes[k].element);
    }
    return whole;
}

static PyStructSequence_Field scanned_fields[] = {
    {"element", "the monoid element after the data: the state reached from each start state"},
    {"seen", "bit mask of the start states whose first record start has been found"},
    {"starts", "(start state, offset, line breaks before it, newlines before it) of each first record start found here"},
    {"breaks", "line breaks in the data: \\n, \\r\\n and a lone \\r"},
    {"newlines", "\\n in the data"},
    {NULL, NULL},
};

static PyStructSequence_Desc scanned_desc = {
    "_boundaries.Scanned",
    "What scan() found in one buffer.",
    scanned_fields,
    sizeof scanned_fields / sizeof scanned_fields[0] - 1,
};

static PyTypeObject *ScannedType;

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

PyDoc_STRVAR(scan_doc,
             "scan(data, delimiter, element, seen, after)\n"
             "--\n\n"
             "Follow the seven start states through data, which continues a range whose earlier\n"
             "buffers left the monoid element `element` and the start-state mask `seen`; `after`\n"
             "is the byte that follows data (-1 if none). delimiter is None for JSON Lines.\n\n"
             "Returns a Scanned: element, seen, starts, breaks, newlines.");

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer data;
    PyObject *delimiter_object;
    int element, seen, after, delimiter;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*Oiii", &data, &delimiter_object, &element, &seen, &after)) {
        return NULL;
    }
    PyObject *result = NULL, *starts_tuple = NULL;
    if (parse_delimiter(delimiter_object, &delimiter) < 0) {
        goto done;
    }
    if (element < 0 || element >= ELEMENTS || seen < 0 || (unsigned)seen > ALL_STATES || after < -1 || after > 255) {
        PyErr_SetString(PyExc_ValueError, "element, seen or after out of range");
        goto done;
    }
    uint8_t classes[256];
    classes_of(delimiter, classes);
    const unsigned char *s = data.buf;
    Py_ssize_t n = data.len;
    Lane whole = follow(s, n, classes, (unsigned)element, (unsigned)seen);
    unsigned e = whole.element, found = whole.found;
    /* The starts found here, by offset (a few at most: insertion sort). */
    Start starts[STATES];
    int start_count = 0;
    for (int state = 0; state < STATES; state++) {
        if ((found & ~(unsigned)seen) & (1u << state)) {
            int at = start_count++;
            while (at > 0 && starts[at - 1].offset > whole.first[state]) {
                starts[at] = starts[at - 1];
                at--;
            }
            starts[at] = (Start){state, whole.first[state]};
        }
    }
    /* Line breaks before each start found (they are in offset order), then in the whole data. */
    int lf_only = delimiter < 0;
    Lines lines = {0, 0};
    Py_ssize_t counted = 0;
    starts_tuple = PyTuple_New(start_count);
    if (starts_tuple == NULL) {
        goto done;
    }
    for (int i = 0; i < start_count; i++) {
        count_lines(s, counted, starts[i].offset, n, after, &lines);
        counted = starts[i].offset;
        PyObject *item = Py_BuildValue("(innn)", starts[i].state, starts[i].offset,
                                       lf_only ? lines.newlines : lines.breaks, lines.newlines);
        if (item == NULL) {
            goto done;
        }
        PyTuple_SetItem(starts_tuple, i, item);
    }
    count_lines(s, counted, n, n, after, &lines);
    PyObject *fields[] = {
        PyLong_FromLong((long)e),
        PyLong_FromLong((long)found),
        Py_NewRef(starts_tuple),
        PyLong_FromSsize_t(lf_only ? lines.newlines : lines.breaks),
        PyLong_FromSsize_t(lines.newlines),
    };
    result = new_struct(ScannedType, fields, sizeof fields / sizeof fields[0]);
done:
    Py_XDECREF(starts_tuple);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(states_doc,
             "states(element)\n"
             "--\n\n"
             "The state element leads to from each of the seven start states, as a tuple.");

static PyObject *states(PyObject *self, PyObject *args) {
    int element;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &element)) {
        return NULL;
    }
    if (element < 0 || element >= ELEMENTS) {
        PyErr_SetString(PyExc_ValueError, "no such element");
        return NULL;
    }
    PyObject *result = PyTuple_New(STATES);
    for (int s = 0; result != NULL && s < STATES; s++) {
        PyObject *state = PyLong_FromLong(MAPS[element][s]);
        if (state == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SetItem(result, s, state);
    }
    return result;
}

PyDoc_STRVAR(record_ends_doc,
             "record_ends(data, delimiter, count, final)\n"
             "--\n\n"
             "The offsets where the first `count` records of data end (each the next one's start),\n"
             "data starting with a record. A record the data cuts is left out unless `final` says\n"
             "nothing follows, which ends it at len(data).");

static PyObject *record_ends(PyObject *self, PyObject *args) {
    Py_buffer data;
    PyObject *delimiter_object;
    Py_ssize_t count;
    int final, delimiter;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*Onp", &data, &delimiter_object, &count, &final)) {
        return NULL;
    }
    PyObject *ends = NULL;
    if (parse_delimiter(delimiter_object, &delimiter) < 0) {
        goto done;
    }
    uint8_t classes[256];
    classes_of(delimiter, classes);
    ends = PyList_New(0);
    if (ends == NULL) {
        goto done;
    }
    const unsigned char *s = data.buf;
    uint8_t state = RECORD;
    Py_ssize_t last = 0, found = 0;
    for (Py_ssize_t p = 0; p < data.len && found < count; p++) {
        uint8_t c = classes[s[p]];
        if (p > 0 && starts_record(state, c)) {
            PyObject *end = PyLong_FromSsize_t(p);
            if (end == NULL || PyList_Append(ends, end) < 0) {
                Py_XDECREF(end);
                Py_CLEAR(ends);
                goto done;
            }
            Py_DECREF(end);
            last = p;
            found++;
        }
        state = transition(state, c);
    }
    /* A record ends at the end of the data when nothing follows, or when its \n was the last byte. */
    if (found < count && data.len > last && (final || state == RECORD)) {
        PyObject *end = PyLong_FromSsize_t(data.len);
        if (end == NULL || PyList_Append(ends, end) < 0) {
            Py_XDECREF(end);
            Py_CLEAR(ends);
        } else {
            Py_DECREF(end);
        }
    }
done:
    PyBuffer_Release(&data);
    return ends;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"states", states, METH_VARARGS, states_doc},
    {"record_ends", record_ends, METH_VARARGS, record_ends_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_boundaries",
    .m_doc = "Where CSV records and JSON Lines lines start in a byte range, from every state a range can start in.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__boundaries(void) {
    if (build_monoid() < 0) {
        PyErr_SetString(PyExc_RuntimeError, "the record-boundary monoid has more than 256 elements");
        return NULL;
    }
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) {
        return NULL;
    }
    ScannedType = PyStructSequence_NewType(&scanned_desc);
    if (ScannedType == NULL || PyModule_AddObjectRef(created, "Scanned", (PyObject *)ScannedType) < 0 ||
        PyModule_AddIntConstant(created, "ELEMENTS", ELEMENTS) < 0) {
        Py_CLEAR(ScannedType);
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
