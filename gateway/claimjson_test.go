package gateway

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClaimJSONCasing: a claim is written camelCase, and one stored before the rename (device_id)
// still reads with its device.
func TestClaimJSONCasing(t *testing.T) {
	b, err := json.Marshal(Claim{MAC: "02:00:00:00:00:01", DeviceID: "mac-020000000001", State: ClaimClaimed})
	require.NoError(t, err)
	require.Contains(t, string(b), `"deviceId":"mac-020000000001"`)
	require.NotContains(t, string(b), "device_id")

	var c Claim
	require.NoError(t, json.Unmarshal([]byte(`{"mac":"02:00:00:00:00:01","device_id":"mac-020000000001","state":"claimed"}`), &c))
	require.Equal(t, "mac-020000000001", c.DeviceID)
	require.Equal(t, ClaimClaimed, c.State)
	require.NoError(t, json.Unmarshal(b, &c))
	require.Equal(t, "mac-020000000001", c.DeviceID)
}
