package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// bookingWrite matches SQL that writes the bookings or tours table.
var bookingWrite = regexp.MustCompile(`(?i)\b(update|insert\s+into|delete\s+from)\s+(bookings|tours)\b`)

// bookingWriters are the only places allowed to write bookings and tours:
// the store's booking repository, whole, and the tour repository's own
// functions. takeSeatsTx is the seat take of a new booking, which stays
// beside the tour statements it shares with TourTakeSeatsTx.
var bookingWriters = map[string][]string{
	"internal/store/booking.go": nil, // any function
	"internal/store/tour.go":    {"TourCreate", "TourUpdate", "TourDelete", "takeSeatsTx"},
}

// TestOnlyTheStoreWritesBookings walks every Go file of the module but
// tests and fails on any string holding SQL that writes bookings or tours
// outside the store's booking and tour repositories: a rule of the domain
// lives in one place, and the seat invariant has one keeper.
func TestOnlyTheStoreWritesBookings(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, found := 0, 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, decl := range f.Decls {
			fn := "(package level)"
			if fd, ok := decl.(*ast.FuncDecl); ok {
				fn = fd.Name.Name
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || !bookingWrite.MatchString(lit.Value) {
					return true
				}
				found++
				allowed, ok := bookingWriters[rel]
				if !ok || (allowed != nil && !slices.Contains(allowed, fn)) {
					t.Errorf("%s: %s writes bookings or tours (%s); only the store's booking repository may",
						fset.Position(lit.Pos()), fn, bookingWrite.FindString(lit.Value))
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk saw the module and the statements it guards: a broken
	// walk must not pass for a clean tree.
	if files < 100 || found < 10 {
		t.Fatalf("walked %d files and found %d writes; expected the whole module", files, found)
	}
}
