package config

// Files is the [files] table: the WebDAV file folders at /webdav/
// (webdav/files). The settings apply when the server starts, except
// max_file_size, read per request.
type Files struct {
	// MaxFileSize is the largest file a WebDAV PUT stores (413 above it);
	// the account's quota applies as well (507).
	MaxFileSize Size `toml:"max_file_size"`
	// MaxXMLBody bounds the XML body of PROPFIND, PROPPATCH and LOCK,
	// checked before parsing (413 above it).
	MaxXMLBody Size `toml:"max_xml_body"`
}

func defaultFiles() Files {
	return Files{MaxFileSize: 4 * GiB, MaxXMLBody: 1 * MiB}
}

func (c *Config) validateFiles(v *validator) {
	f := &c.Files
	if f.MaxFileSize < 1*KiB {
		v.fail("files.max_file_size", "%d bytes: use at least 1KiB", int64(f.MaxFileSize))
	}
	if f.MaxXMLBody < 4*KiB || f.MaxXMLBody > 64*MiB {
		v.fail("files.max_xml_body", "%d bytes: use 4KiB to 64MiB", int64(f.MaxXMLBody))
	}
}
