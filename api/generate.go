// Package api holds the pinned AWS service models and the packages generated from them.
package api

//go:generate go run ./internal/gen -models models -out .
