// Package testutil holds the helpers that the tests of several packages
// share, so that each is written once and reads the same everywhere.
//
// # Usage
//
//	testutil.WaitFor(t, "n2 to apply index 7", func() bool { return db.Status().Applied >= 7 })
//	testutil.Golden(t, filepath.Join("testdata", "records.golden"), got, *update)
//
// # Caveats
//
// It is imported by tests only: nothing outside _test.go files may use it.
package testutil
