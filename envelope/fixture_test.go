package envelope

import (
	"encoding/base64"
	"strings"
)

// validPackage returns a package that passes Validate, with every element of EDXML.md
// filled in (Vietnamese text included), for round trips and validation tables.
func validPackage() *Package {
	att := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 Công văn số 7816/VPCP-TTĐT\n"))
	return &Package{
		From: Organization{
			OrganID: "000.00.00.G22", OrganizationInCharge: "Văn phòng Chính phủ", OrganName: "Văn phòng Chính phủ",
			OrganAdd: "Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội", Email: "vpcp@gov.vn", Telephone: "8043100",
			Fax: "048043100", Website: "vpcp.vn",
		},
		To: []Organization{
			{OrganID: "000.00.00.H41", OrganName: "UBND Tỉnh Nghệ An", OrganAdd: "Số 03, đường Trường Thi, Thành phố Vinh"},
			{OrganID: "000.00.00.H14", OrganName: "UBND Tỉnh Cao Bằng"},
			{OrganID: "000.00.00.H41", OrganName: "UBND Tỉnh Nghệ An (bản sao)"},
		},
		DocumentID:       "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
		Code:             Code{CodeNumber: "7816", CodeNotation: "VPCP-TTĐT"},
		PromulgationInfo: PromulgationInfo{Place: "Hà Nội", PromulgationDate: "2015/09/30"},
		DocumentType:     DocumentType{Type: "1", TypeDetail: "0", TypeName: "Công văn"},
		Subject:          "V/v kết nối, liên thông phần mềm quản lý văn bản <&> \"trích dẫn\" 'đơn'",
		Content:          "Nội dung ngắn\nnhiều dòng\tvà tab",
		SignerInfo:       SignerInfo{Competence: "KT. BỘ TRƯỞNG", Position: "Thứ trưởng", FullName: "Nguyễn Văn Á"},
		DueDate:          "2015/10/15",
		ToPlaces:         []string{"Các bộ, cơ quan ngang bộ", "UBND các tỉnh, TP"},
		OtherInfo: &OtherInfo{
			Priority: "1", SphereOfPromulgation: "Liên thông văn bản quốc gia", TyperNotation: "TVC",
			PromulgationAmount: "2", PageAmount: "22", Direction: "false",
			Appendixes: []string{"Phụ lục I", "Phụ lục II"},
		},
		ResponseFor: []ResponseFor{{
			OrganID: "000.00.00.H41", Code: "267/UBND-VX", PromulgationDate: "2015/09/01",
			DocumentID: "000.00.00.H41,2015/09/01,267/UBND-VX",
		}},
		SteeringType: "2",
		TraceHeaders: []TraceHeader{{OrganID: "000.00.00.G22", Timestamp: "2015/09/30 16:35:56"}},
		Business: &Business{
			DocType: "0", DocReason: "Văn bản điện tử mới", Paper: "0",
			Staff: &StaffInfo{Department: "Văn thư", Staff: "Nguyễn Thị Ngọc Trâm", Mobile: "84912000001", Email: "vt@gov.vn"},
		},
		ManifestVersion: ManifestVersion,
		References: []Reference{{
			ContentID: "cid:209", ContentType: "application/pdf", Description: "Công văn", AttachmentName: "cong-van-7816.pdf",
		}},
		Attachments: []Attachment{{
			ContentID: "cid:209", AttachmentName: "cong-van-7816.pdf", Description: "Công văn",
			ContentType: "application/pdf", Content: att,
		}},
	}
}

// fullBusiness returns a Bussiness block using every element (update + replacement lists).
func fullBusiness() *Business {
	return &Business{
		DocType: "3", DocReason: "Văn bản thay thế", DocumentID: "000.00.00.G22,2015/09/01,7000/VPCP-TTĐT", Paper: "1",
		DocumentInfo: &BusinessDocumentInfo{
			DocumentInfo: "1", DocumentReceiver: "1",
			Receivers: []Receiver{{OrganID: "000.00.00.H41", ReceiverType: "0"}, {OrganID: "000.00.00.H14", ReceiverType: "1"}},
		},
		Staff: &StaffInfo{Department: "Văn thư văn phòng", Staff: "Trần Thị B"},
		Replacements: []ReplacementInfo{{
			DocumentID: "000.00.00.G22,2015/09/01,7000/VPCP-TTĐT", OrganIDs: []string{"000.00.00.H41", "000.00.00.H14"},
		}},
	}
}

func validStatus() *Status {
	return &Status{
		ResponseFor: ResponseFor{
			OrganID: "000.00.00.G22", Code: "7816/VPCP-TTĐT", PromulgationDate: "2015/09/30",
			DocumentID: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
		},
		From:        Organization{OrganID: "000.00.00.H41", OrganName: "UBND Tỉnh Nghệ An"},
		StatusCode:  StatusAccepted,
		Description: "Văn thư - Phòng Văn thư - Lưu trữ: Tiếp nhận văn bản điện tử",
		Timestamp:   "2015/10/01 08:30:00",
		Staff:       &StaffInfo{Department: "Văn thư", Staff: "Nguyễn Thị Ngọc Trâm", Mobile: "84912000001"},
	}
}

// wrap64 breaks base64 text into lines, as many field systems do.
func wrap64(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteString("\r\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}
