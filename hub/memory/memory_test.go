package memory_test

import (
	"testing"

	"roomhub/hub"
	"roomhub/hub/hubtest"
	"roomhub/hub/memory"
)

func TestConformance(t *testing.T) {
	hubtest.Run(t, func(t *testing.T) hub.Bus { return memory.New() })
}
