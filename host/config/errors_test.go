package config

import (
	"slices"
	"testing"
)

func TestFieldErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{
			name: "entity and field",
			err:  FieldError{Path: "routes[3].paths[1]", Entity: `route "api"`, Message: "bad"},
			want: `routes[3] (route "api"): paths[1]: bad`,
		},
		{
			name: "entity itself",
			err:  FieldError{Path: "routes[3]", Entity: `route "api"`, Message: "bad"},
			want: `routes[3] (route "api"): bad`,
		},
		{
			name: "nested entity located by entityLen",
			err:  FieldError{Path: "services[0].routes[1].hosts[0]", Entity: `route "api"`, Message: "bad", entityLen: len("services[0].routes[1]")},
			want: `services[0].routes[1] (route "api"): hosts[0]: bad`,
		},
		{
			name: "no entity",
			err:  FieldError{Path: "weir.proxy_listen", Message: "bad"},
			want: "weir.proxy_listen: bad",
		},
		{
			name: "no path",
			err:  FieldError{Message: "empty configuration"},
			want: "empty configuration",
		},
		{
			name: "entity without an index in the path",
			err:  FieldError{Path: "weir", Entity: "weir settings", Message: "bad"},
			want: "weir (weir settings): bad",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidationErrorsError(t *testing.T) {
	one := ValidationErrors{{Path: "a", Message: "x"}}
	if got := one.Error(); got != "a: x" {
		t.Errorf("one error: %q", got)
	}
	two := ValidationErrors{{Path: "a", Message: "x"}, {Path: "b", Message: "y"}}
	if got, want := two.Error(), "2 configuration errors:\n  a: x\n  b: y"; got != want {
		t.Errorf("two errors: %q, want %q", got, want)
	}
	if ValidationErrors(nil).err() != nil {
		t.Error("an empty list is a non-nil error")
	}
}

func TestComparePaths(t *testing.T) {
	paths := []string{
		"services[0].port",
		"routes[10]",
		"routes[2].paths[10]",
		"routes[2].paths[9]",
		"routes[2]",
		"routes[2].hosts[0]",
		`routes[2].headers["x y"]`,
		"routes[2].headers.x",
		"routes",
		"_format_version",
		"routes[02].methods",
	}
	slices.SortFunc(paths, comparePaths)
	want := []string{
		"_format_version",
		"routes",
		"routes[2]",
		"routes[2].headers.x",
		`routes[2].headers["x y"]`,
		"routes[2].hosts[0]",
		"routes[02].methods",
		"routes[2].paths[9]",
		"routes[2].paths[10]",
		"routes[10]",
		"services[0].port",
	}
	if !slices.Equal(paths, want) {
		t.Errorf("sorted:\n%q\nwant:\n%q", paths, want)
	}
}
