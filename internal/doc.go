// Package internal holds helpers for tests and demos (a throwaway local
// Prosody, a fault-injecting proxy). Library packages must not import it.
package internal
