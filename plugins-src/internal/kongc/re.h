/*
 * re.h: Go (RE2) regular expression syntax translated to POSIX extended
 * regular expressions (regcomp, wasi-libc's musl TRE matcher, which runs
 * in time linear in the subject for these patterns: no backtracking on
 * hostile input). The cors plugin's origin patterns were Go regexps; this
 * keeps their meaning for the syntax origin patterns use: literals, '.',
 * classes ([a-z], [^...], [[:alpha:]], \d \w \s and their negations, inside
 * classes too), groups ((...), (?:...), (?P<name>...)), '|', '*', '+', '?',
 * {n}, {n,}, {n,m} (lazy forms: for a full match laziness changes nothing),
 * '^', '$' and escaped punctuation. RE2 syntax errors are errors; valid
 * RE2 that has no ERE equivalent here (flags like (?i), \b, \A, \z, \p,
 * \Q...\E, non-ASCII inside classes, repeats above 255) is refused with a
 * message saying so, never silently changed.
 */
#ifndef WEIR_KONGC_RE_H
#define WEIR_KONGC_RE_H

#include "kong.h"

/* re_class is a set of ASCII bytes (1..127). */
typedef struct re_class {
    bool in[128];
} re_class;

static inline void re_class_add_named(re_class *c, char k, bool neg) {
    bool tmp[128] = {false};
    for (int ch = 1; ch < 128; ch++) {
        bool m = false;
        if (k == 'd') m = ch >= '0' && ch <= '9';
        else if (k == 'w') m = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        else if (k == 's') m = ch == '\t' || ch == '\n' || ch == '\f' || ch == '\r' || ch == ' ';
        tmp[ch] = m != neg;
    }
    for (int ch = 1; ch < 128; ch++) c->in[ch] = c->in[ch] || tmp[ch];
}

/* re_emit_class appends c as an ERE bracket expression ('^' first when
 * neg); specials are placed where ERE reads them literally. */
static inline void re_emit_class(kc_buf *b, const re_class *c, bool neg) {
    int count = 0;
    for (int ch = 1; ch < 128; ch++) count += c->in[ch];
    if (!neg && count == 1 && c->in['^']) {
        kc_buf_puts(b, "\\^");
        return;
    }
    kc_buf_putc(b, '[');
    if (neg) kc_buf_putc(b, '^');
    if (c->in[']']) kc_buf_putc(b, ']');
    bool wrote = c->in[']'];
    for (int ch = 1; ch < 128; ch++) {
        if (!c->in[ch] || ch == ']' || ch == '-' || ch == '^' || ch == '[') continue;
        int end = ch;
        while (end + 1 < 128 && c->in[end + 1] && end + 1 != ']' && end + 1 != '-' && end + 1 != '^' && end + 1 != '[') end++;
        kc_buf_putc(b, (char)ch);
        if (end - ch >= 2) {
            kc_buf_putc(b, '-');
            kc_buf_putc(b, (char)end);
            ch = end;
        }
        wrote = true;
    }
    bool bracket_done = false, dash_done = false;
    if (c->in['^']) {
        if (!wrote && !neg) { /* never first ("[^" negates): put '[' or '-' before it */
            if (c->in['[']) kc_buf_putc(b, '['), bracket_done = true;
            else kc_buf_putc(b, '-'), dash_done = true; /* count > 1, so '-' is in the set */
        }
        kc_buf_putc(b, '^');
    }
    if (c->in['['] && !bracket_done) kc_buf_putc(b, '[');
    if (c->in['-'] && !dash_done) kc_buf_putc(b, '-');
    kc_buf_putc(b, ']');
}

/* re_escape decodes the escape at p[i] (after the backslash): into *cls a
 * class (returns 2) or into *lit one literal byte (returns 1); 0 with *err
 * set when invalid or unsupported. *adv gets the bytes consumed. */
static inline int re_escape(const char *p, size_t n, size_t i, re_class *cls, char *lit, size_t *adv, const char **err) {
    if (i >= n) {
        *err = "trailing backslash at end of expression";
        return 0;
    }
    char c = p[i];
    *adv = 1;
    switch (c) {
    case 'd': case 'w': case 's':
        re_class_add_named(cls, c, false);
        return 2;
    case 'D': case 'W': case 'S':
        re_class_add_named(cls, (char)(c + 32), true);
        return 2;
    case 'n': *lit = '\n'; return 1;
    case 't': *lit = '\t'; return 1;
    case 'r': *lit = '\r'; return 1;
    case 'f': *lit = '\f'; return 1;
    case 'v': *lit = '\v'; return 1;
    case 'a': *lit = '\a'; return 1;
    case 'x':
        if (i + 2 < n && kc_hexval(p[i + 1]) >= 0 && kc_hexval(p[i + 2]) >= 0) {
            int v = kc_hexval(p[i + 1]) * 16 + kc_hexval(p[i + 2]);
            if (v == 0 || v > 127) break;
            *lit = (char)v;
            *adv = 3;
            return 1;
        }
        break;
    default:
        if ((unsigned char)c < 128 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            *lit = c; /* escaped punctuation */
            return 1;
        }
        if (c == 'A' || c == 'z' || c == 'b' || c == 'B' || c == 'p' || c == 'P' || c == 'Q' || c == 'E' || c == 'C' || c == '0' ||
            c == '8' || c == '9')
            *err = "escape not supported by Weir's origin patterns";
        else
            *err = "invalid escape sequence";
        return 0;
    }
    *err = "escape not supported by Weir's origin patterns";
    return 0;
}

static inline void re_emit_literal(kc_buf *b, char c) {
    if (strchr(".[]()*+?{}|^$\\", c) != NULL && c != '\0') {
        if (c == ']' || c == '}') kc_buf_putc(b, c);
        else if (c == '^' || c == '\\') {
            kc_buf_putc(b, '\\');
            kc_buf_putc(b, c);
        } else {
            char t[3] = {'[', c, ']'};
            kc_buf_put(b, t, 3);
        }
    } else {
        kc_buf_putc(b, c);
    }
}

/* re_parse_repeat reads {n}, {n,} or {n,m} at p[i]; false when it is not
 * one (then '{' is a literal, as in RE2). */
static inline bool re_parse_repeat(const char *p, size_t n, size_t i, size_t *end, long *lo, long *hi) {
    size_t j = i + 1;
    long a = 0, bnum = -1;
    size_t d = 0;
    while (j < n && p[j] >= '0' && p[j] <= '9' && d < 6) a = a * 10 + (p[j++] - '0'), d++;
    if (d == 0 || (j < n && p[j] >= '0' && p[j] <= '9')) return false;
    if (j < n && p[j] == '}') {
        *end = j + 1, *lo = a, *hi = a;
        return true;
    }
    if (j >= n || p[j] != ',') return false;
    j++;
    d = 0;
    if (j < n && p[j] >= '0' && p[j] <= '9') {
        bnum = 0;
        while (j < n && p[j] >= '0' && p[j] <= '9' && d < 6) bnum = bnum * 10 + (p[j++] - '0'), d++;
        if (j < n && p[j] >= '0' && p[j] <= '9') return false;
    }
    if (j >= n || p[j] != '}') return false;
    *end = j + 1, *lo = a, *hi = bnum;
    return true;
}

/* kc_re2_to_ere translates the RE2 pattern p[0:n) into an anchored ERE
 * "^(...)$" (a full match) in out; NULL, or the error message. */
static inline const char *kc_re2_to_ere(const char *p, size_t n, kc_buf *out) {
    const char *err = NULL;
    int depth = 0;
    bool can_repeat = false; /* the previous item takes a quantifier */
    bool just_repeated = false;
    kc_buf_puts(out, "^(");
    bool branch_empty = true;
    for (size_t i = 0; i < n;) {
        char c = p[i];
        if ((unsigned char)c >= 128 || c == '\0') {
            if (c == '\0') return "NUL byte in expression";
            /* a UTF-8 literal: copy the whole sequence */
            size_t l = kc_utf8_len((const unsigned char *)p + i, n - i);
            if (l == 0) return "invalid UTF-8";
            kc_buf_put(out, p + i, l);
            i += l;
            can_repeat = true, just_repeated = false, branch_empty = false;
            continue;
        }
        switch (c) {
        case '\\': {
            re_class cls = {{false}};
            char lit = 0;
            size_t adv = 0;
            int k = re_escape(p, n, i + 1, &cls, &lit, &adv, &err);
            if (k == 0) return err;
            if (k == 2) re_emit_class(out, &cls, false);
            else re_emit_literal(out, lit);
            i += 1 + adv;
            can_repeat = true, just_repeated = false, branch_empty = false;
            continue;
        }
        case '[': {
            size_t j = i + 1;
            bool neg = false;
            re_class cls = {{false}};
            if (j < n && p[j] == '^') neg = true, j++;
            bool first = true;
            bool closed = false;
            while (j < n) {
                if (p[j] == ']' && !first) {
                    closed = true;
                    j++;
                    break;
                }
                first = false;
                int lo;
                if (p[j] == '[' && j + 1 < n && p[j + 1] == ':') {
                    static const char *const names[] = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
                                                        "lower", "print", "punct", "space", "upper", "word", "xdigit"};
                    size_t e = j + 2;
                    bool cneg = e < n && p[e] == '^';
                    if (cneg) e++;
                    size_t s0 = e;
                    while (e + 1 < n && !(p[e] == ':' && p[e + 1] == ']')) e++;
                    if (e + 1 >= n) return "missing closing ]";
                    int which = -1;
                    for (int q = 0; q < 14; q++)
                        if (kc_eq(p + s0, e - s0, names[q], strlen(names[q]))) which = q;
                    if (which < 0) return "invalid character class range";
                    for (int ch = 1; ch < 128; ch++) {
                        bool m;
                        switch (which) {
                        case 0: m = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); break;
                        case 1: m = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); break;
                        case 2: m = true; break;
                        case 3: m = ch == ' ' || ch == '\t'; break;
                        case 4: m = ch < 32 || ch == 127; break;
                        case 5: m = ch >= '0' && ch <= '9'; break;
                        case 6: m = ch > 32 && ch < 127; break;
                        case 7: m = ch >= 'a' && ch <= 'z'; break;
                        case 8: m = ch >= 32 && ch < 127; break;
                        case 9: m = ch > 32 && ch < 127 && !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')); break;
                        case 10: m = ch == ' ' || (ch >= 9 && ch <= 13); break;
                        case 11: m = ch >= 'A' && ch <= 'Z'; break;
                        case 12: m = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; break;
                        default: m = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'); break;
                        }
                        if (m != cneg) cls.in[ch] = true;
                    }
                    j = e + 2;
                    continue;
                }
                /* one element: a char (maybe escaped) or a named escape */
                if (p[j] == '\\') {
                    char lit = 0;
                    size_t adv = 0;
                    int k = re_escape(p, n, j + 1, &cls, &lit, &adv, &err);
                    if (k == 0) return err;
                    j += 1 + adv;
                    if (k == 2) continue;
                    lo = (unsigned char)lit;
                } else {
                    if ((unsigned char)p[j] >= 128) return "non-ASCII character class not supported by Weir's origin patterns";
                    if (p[j] == '\0') return "NUL byte in expression";
                    lo = (unsigned char)p[j++];
                }
                int hi = lo;
                if (j + 1 < n && p[j] == '-' && p[j + 1] != ']') {
                    j++;
                    if (p[j] == '\\') {
                        char lit = 0;
                        size_t adv = 0;
                        re_class dummy = {{false}};
                        int k = re_escape(p, n, j + 1, &dummy, &lit, &adv, &err);
                        if (k == 0) return err;
                        if (k == 2) return "invalid character class range";
                        hi = (unsigned char)lit;
                        j += 1 + adv;
                    } else {
                        if ((unsigned char)p[j] >= 128) return "non-ASCII character class not supported by Weir's origin patterns";
                        hi = (unsigned char)p[j++];
                    }
                    if (hi < lo) return "invalid character class range";
                }
                for (int ch = lo; ch <= hi; ch++)
                    if (ch > 0 && ch < 128) cls.in[ch] = true;
            }
            if (!closed) return "missing closing ]";
            int count = 0;
            for (int ch = 1; ch < 128; ch++) count += cls.in[ch];
            if (count == 0 && !neg) return "empty character class not supported by Weir's origin patterns";
            re_emit_class(out, &cls, neg);
            i = j;
            can_repeat = true, just_repeated = false, branch_empty = false;
            continue;
        }
        case '(':
            if (i + 1 < n && p[i + 1] == '?') {
                if (i + 2 < n && p[i + 2] == ':') {
                    i += 3;
                } else if (i + 2 < n && (p[i + 2] == 'P' || p[i + 2] == '<')) {
                    size_t j = i + (p[i + 2] == 'P' ? 3 : 2);
                    if (j >= n || p[j] != '<') return "invalid named capture";
                    j++;
                    size_t s0 = j;
                    while (j < n && p[j] != '>') {
                        char ch = p[j];
                        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'))
                            return "invalid named capture";
                        j++;
                    }
                    if (j >= n || j == s0) return "invalid named capture";
                    i = j + 1;
                } else {
                    return "flags ((?i) and the like) not supported by Weir's origin patterns";
                }
            } else {
                i++;
            }
            kc_buf_putc(out, '(');
            depth++;
            can_repeat = false, just_repeated = false, branch_empty = true;
            continue;
        case ')':
            if (depth == 0) return "unexpected )";
            if (branch_empty) kc_buf_puts(out, "()");
            kc_buf_putc(out, ')');
            depth--;
            i++;
            can_repeat = true, just_repeated = false, branch_empty = false;
            continue;
        case '|':
            if (branch_empty) kc_buf_puts(out, "()");
            kc_buf_putc(out, '|');
            i++;
            can_repeat = false, just_repeated = false, branch_empty = true;
            continue;
        case '*': case '+': case '?': case '{': {
            size_t end = i + 1;
            long lo = 0, hi = 0;
            bool rep = true;
            if (c == '{') rep = re_parse_repeat(p, n, i, &end, &lo, &hi);
            if (!rep) { /* a literal '{' */
                kc_buf_puts(out, "[{]");
                i++;
                can_repeat = true, just_repeated = false, branch_empty = false;
                continue;
            }
            if (just_repeated) return "invalid nested repetition operator";
            if (!can_repeat) return "missing argument to repetition operator";
            if (c == '{') {
                if (lo > 1000 || hi > 1000 || (hi >= 0 && hi < lo)) return "invalid repeat count";
                if (lo > 255 || hi > 255) return "repeat count above 255 not supported by Weir's origin patterns";
            }
            kc_buf_put(out, p + i, end - i);
            i = end;
            if (i < n && p[i] == '?') i++; /* lazy: the same full matches */
            just_repeated = true;
            continue;
        }
        default:
            kc_buf_putc(out, c);
            i++;
            can_repeat = c != '^' && c != '$';
            just_repeated = false;
            branch_empty = false;
            continue;
        }
    }
    if (depth > 0) return "missing closing )";
    if (branch_empty) kc_buf_puts(out, "()");
    kc_buf_puts(out, ")$");
    if (out->oom) return "out of memory";
    return NULL;
}

#endif /* WEIR_KONGC_RE_H */
