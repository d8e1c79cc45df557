package config

import (
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem in a configuration, located by its path.
type FieldError struct {
	// Path locates the offending value from the document root, e.g.
	// "routes[3].paths[1]". Empty for problems with the whole document.
	Path string
	// Entity names the object the problem belongs to, e.g. `route "api"`.
	// Empty when the object has no name or the problem is not inside one.
	Entity string
	// Message says what is wrong.
	Message string

	// entityLen is the length of the prefix of Path that locates the
	// entity ("routes[3]" in "routes[3].paths[1]"); 0 means unknown.
	entityLen int
}

// Error reads like `routes[3] (route "api"): paths[1]: invalid regex ...`.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Entity == "" {
		if e.Path != "" {
			b.WriteString(e.Path)
			b.WriteString(": ")
		}
		b.WriteString(e.Message)
		return b.String()
	}
	at, field := e.split()
	b.WriteString(at)
	b.WriteString(" (")
	b.WriteString(e.Entity)
	b.WriteString("): ")
	if field != "" {
		b.WriteString(field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// split divides Path into the entity's location and the field within it.
func (e *FieldError) split() (entity, field string) {
	n := e.entityLen
	if n <= 0 || n > len(e.Path) {
		// Default: the first "name[i]" segment is the entity.
		n = strings.IndexByte(e.Path, ']') + 1
		if n <= 0 {
			return e.Path, ""
		}
	}
	entity, field = e.Path[:n], e.Path[n:]
	field = strings.TrimPrefix(field, ".")
	return entity, field
}

// ValidationErrors lists every problem found in a configuration, sorted
// by path. [Parse], [Config.Normalize] and [Config.Validate] return it
// (never empty) when the configuration is not acceptable.
type ValidationErrors []*FieldError

// Error lists the problems one per line.
func (v ValidationErrors) Error() string {
	switch len(v) {
	case 0:
		return "no configuration errors"
	case 1:
		return v[0].Error()
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(v)))
	b.WriteString(" configuration errors:")
	for _, e := range v {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// sort orders the errors by path (indices compared as numbers), then by
// message, so output is stable and reads in document order.
func (v ValidationErrors) sort() {
	slices.SortStableFunc(v, func(a, b *FieldError) int {
		if c := comparePaths(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

// err returns v as an error, or nil when it is empty.
func (v ValidationErrors) err() error {
	if len(v) == 0 {
		return nil
	}
	v.sort()
	return v
}

// comparePaths compares two paths segment by segment, treating runs of
// digits as numbers so "routes[2]" sorts before "routes[10]".
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			na, ra := leadingNumber(a)
			nb, rb := leadingNumber(b)
			if c := compareNumeric(na, nb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			// '.' and '[' end a name: a shorter name sorts first.
			if c := compareSegmentByte(a[0], b[0]); c != 0 {
				return c
			}
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func compareSegmentByte(x, y byte) int {
	rank := func(c byte) int {
		if c == '.' || c == '[' {
			return -1
		}
		return int(c)
	}
	return rank(x) - rank(y)
}

func leadingNumber(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// compareNumeric compares two digit strings as numbers of any length.
func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// errorList collects FieldErrors; the zero value is ready to use.
type errorList struct {
	errs ValidationErrors
}

// entity returns a reporter for the object at path (e.g. "routes[3]")
// named label (e.g. `route "api"`, may be empty).
func (l *errorList) entity(path, label string) *reporter {
	return &reporter{list: l, path: path, label: label}
}

// add records a problem that is not inside a named entity.
func (l *errorList) add(path, msg string) {
	l.errs = append(l.errs, &FieldError{Path: path, Message: msg})
}

// reporter records problems for one entity.
type reporter struct {
	list  *errorList
	path  string
	label string
}

// add records msg for field (relative to the entity; "" = the entity).
func (r *reporter) add(field, msg string) {
	p := r.path
	if field != "" {
		if field[0] == '[' {
			p += field
		} else {
			p += "." + field
		}
	}
	r.list.errs = append(r.list.errs, &FieldError{
		Path:      p,
		Entity:    r.label,
		Message:   msg,
		entityLen: len(r.path),
	})
}

// index formats "name[i]".
func index(name string, i int) string {
	return name + "[" + strconv.Itoa(i) + "]"
}
