package gateway

import "encoding/json"

// UnmarshalJSON reads a claim, also as edgegw 0.x stored and printed it: with `device_id` where it now
// says `deviceId` (claims in a state file written before the rename keep their device).
func (c *Claim) UnmarshalJSON(b []byte) error {
	type plain Claim // without this method
	var v struct {
		plain
		LegacyDeviceID string `json:"device_id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = Claim(v.plain)
	if c.DeviceID == "" {
		c.DeviceID = v.LegacyDeviceID
	}
	return nil
}
