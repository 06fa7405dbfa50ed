// Package proc stops a process the way an OS suspends an app, and returns
// only once the process really cannot run: the scenario runner's freeze
// and the tests that type into, or break the path of, a frozen client
// rely on it. Stop is Unix-only; elsewhere it returns
// errors.ErrUnsupported. It holds no state and starts no goroutine.
package proc
