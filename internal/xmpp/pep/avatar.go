package pep

import (
	"encoding/json"
	"strconv"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// avatar is XEP-0084 User Avatar, its metadata node only: <metadata><info
// id='sha1' type='image/png' bytes='…' width='…' height='…' url='…'/>
// </metadata>; an empty <metadata/> means no avatar. The image data node is
// not served: clients that publish one get feature-not-implemented and may
// point to the image with url.
var avatar = Kind{Node: "urn:xmpp:avatar:metadata", Element: "metadata", Topic: core.TopicAvatar,
	toJSON: func(el *xmlstream.Element) any {
		info := el.Child(el.Name.Space, "info")
		if info == nil {
			return core.AvatarItem{}
		}
		n := func(name string) int { v, _ := strconv.Atoi(info.AttrValue(name)); return v }
		return core.AvatarItem{ID: info.AttrValue("id"), Type: info.AttrValue("type"), URL: info.AttrValue("url"),
			Bytes: n("bytes"), Width: n("width"), Height: n("height")}
	},
	toXML: func(el *xmlstream.Element, data []byte) error {
		var a core.AvatarItem
		if err := json.Unmarshal(data, &a); err != nil {
			return err
		}
		if a.ID == "" {
			return nil
		}
		info := xmlstream.New(el.Name.Space, "info")
		attr := func(name, v string) {
			if v != "" && v != "0" {
				info.Set(name, v)
			}
		}
		attr("bytes", strconv.Itoa(a.Bytes))
		attr("height", strconv.Itoa(a.Height))
		attr("id", a.ID)
		attr("type", a.Type)
		attr("url", a.URL)
		attr("width", strconv.Itoa(a.Width))
		el.Add(info)
		return nil
	},
}
