package portal

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"axis/envelope"
)

// Lang is a user interface language. Vietnamese is the default (the users are
// Vietnamese clerks); English is offered for auditors and foreign readers.
type Lang string

const (
	Vi Lang = "vi"
	En Lang = "en"
)

// parseLang accepts exactly the languages the portal has messages for.
func parseLang(s string) (Lang, bool) {
	switch Lang(strings.ToLower(strings.TrimSpace(s))) {
	case Vi:
		return Vi, true
	case En:
		return En, true
	}
	return "", false
}

// Vietnam time: every date the portal shows is in it, whatever the server's zone.
var vietnam = envelope.Vietnam

// messages holds every label of the portal: {Vietnamese, English}.
var messages = map[string][2]string{
	"brand":              {"Trục liên thông văn bản", "Document interchange axis"},
	"nav.home":           {"Thống kê", "Statistics"},
	"nav.inbox":          {"Văn bản đến", "Inbox"},
	"nav.outbox":         {"Văn bản đi", "Outbox"},
	"nav.audit":          {"Nhật ký kiểm toán", "Audit log"},
	"nav.login":          {"Đăng nhập", "Sign in"},
	"nav.logout":         {"Đăng xuất", "Sign out"},
	"nav.switch":         {"English", "Tiếng Việt"},
	"nav.signedin":       {"Đang đăng nhập:", "Signed in as:"},
	"role.auditor":       {"Kiểm toán viên", "Auditor"},
	"footer":             {"Trục liên thông văn bản quốc gia — dữ liệu theo giờ Việt Nam (UTC+7).", "National document interchange axis — times in Vietnam time (UTC+7)."},
	"home.title":         {"Thống kê liên thông văn bản", "Document interchange statistics"},
	"home.today":         {"Văn bản hôm nay", "Documents today"},
	"home.month":         {"Văn bản tháng này", "Documents this month"},
	"home.alltime":       {"Tổng số văn bản", "Documents, all time"},
	"home.agencies":      {"Cơ quan kết nối", "Agencies connected"},
	"home.statuses":      {"Trạng thái đã đồng bộ", "Statuses synchronised"},
	"home.median":        {"Thời gian trung vị từ tiếp nhận đến khi đến nơi", "Median time from acceptance to arrival"},
	"home.median.none":   {"chưa có dữ liệu", "no data yet"},
	"home.median.over":   {"trên %s lượt đến", "over %s arrivals"},
	"home.daily":         {"Số văn bản mỗi ngày (30 ngày gần nhất)", "Documents per day (last 30 days)"},
	"home.daily.total":   {"Tổng 30 ngày: %s văn bản", "30-day total: %s documents"},
	"home.busiest":       {"Cơ quan trao đổi nhiều nhất", "Busiest agencies"},
	"home.busiest.none":  {"Chưa có văn bản nào.", "No documents yet."},
	"col.agency":         {"Cơ quan", "Agency"},
	"col.sent":           {"Đã gửi", "Sent"},
	"col.received":       {"Đã nhận", "Received"},
	"col.total":          {"Tổng", "Total"},
	"login.title":        {"Đăng nhập", "Sign in"},
	"login.token":        {"Mã truy cập (token)", "Access token"},
	"login.help":         {"Dán mã truy cập do quản trị viên cấp (lệnh axis token issue).", "Paste the access token your administrator issued (axis token issue)."},
	"login.submit":       {"Đăng nhập", "Sign in"},
	"login.bad":          {"Mã truy cập không hợp lệ hoặc đã hết hạn.", "The token is invalid or has expired."},
	"list.in.title":      {"Văn bản đến", "Inbox"},
	"list.out.title":     {"Văn bản đi", "Outbox"},
	"list.pick":          {"Chọn cơ quan", "Choose an agency"},
	"list.pick.help":     {"Kiểm toán viên chọn cơ quan để xem hộp văn bản.", "As an auditor, choose the agency whose documents to list."},
	"list.show":          {"Xem", "Show"},
	"filter.title":       {"Lọc", "Filter"},
	"filter.since":       {"Từ ngày", "From"},
	"filter.until":       {"Đến ngày", "To"},
	"filter.status":      {"Trạng thái", "Status"},
	"filter.any":         {"Tất cả", "Any"},
	"filter.counterpart": {"Cơ quan", "Agency"},
	"filter.in.cp":       {"Nơi gửi", "Sender"},
	"filter.out.cp":      {"Nơi nhận", "Recipient"},
	"filter.text":        {"Trích yếu hoặc số, ký hiệu", "Subject or code"},
	"filter.apply":       {"Lọc", "Apply"},
	"filter.clear":       {"Xoá bộ lọc", "Clear"},
	"sort.label":         {"Sắp xếp", "Order"},
	"sort.newest":        {"Mới nhất trước", "Newest first"},
	"sort.oldest":        {"Cũ nhất trước", "Oldest first"},
	"col.date":           {"Ngày tiếp nhận", "Accepted"},
	"col.code":           {"Số, ký hiệu", "Code"},
	"col.subject":        {"Trích yếu", "Subject"},
	"col.from":           {"Nơi gửi", "From"},
	"col.to":             {"Nơi nhận", "To"},
	"col.state":          {"Trạng thái", "Status"},
	"list.empty":         {"Không có văn bản nào.", "No documents."},
	"list.next":          {"Trang sau →", "Next page →"},
	"list.first":         {"← Trang đầu", "← First page"},
	"badge.urgent":       {"Khẩn", "Urgent"},
	"doc.title":          {"Văn bản", "Document"},
	"doc.id":             {"Mã định danh", "Document id"},
	"doc.code":           {"Số, ký hiệu", "Code"},
	"doc.subject":        {"Trích yếu", "Subject"},
	"doc.type":           {"Loại văn bản", "Document type"},
	"doc.from":           {"Nơi gửi", "From"},
	"doc.to":             {"Nơi nhận", "To"},
	"doc.accepted":       {"Thời điểm tiếp nhận", "Accepted at"},
	"doc.priority":       {"Độ khẩn", "Priority"},
	"doc.priority.0":     {"Thường", "Normal"},
	"doc.priority.n":     {"Khẩn (mức %d)", "Urgent (level %d)"},
	"doc.business":       {"Nghiệp vụ", "Business type"},
	"doc.promulgation":   {"Ban hành", "Promulgated"},
	"doc.signer":         {"Người ký", "Signed by"},
	"doc.due":            {"Hạn xử lý", "Due date"},
	"doc.content":        {"Nội dung", "Content"},
	"doc.size":           {"Kích thước gói tin", "Package size"},
	"doc.sha":            {"SHA-256", "SHA-256"},
	"doc.auditseq":       {"Sự kiện kiểm toán", "Audit event"},
	"doc.attachments":    {"Tệp đính kèm", "Attachments"},
	"doc.noattachments":  {"Không có tệp đính kèm.", "No attachments."},
	"doc.partiesonly":    {"Chỉ cơ quan gửi và cơ quan nhận tải được tệp đính kèm.", "Only the sending and receiving agencies may download attachments."},
	"doc.download":       {"Tải xuống", "Download"},
	"doc.timeline":       {"Diễn biến theo từng nơi nhận", "Timeline per recipient"},
	"doc.current":        {"Trạng thái hiện tại", "Current status"},
	"doc.recall":         {"Thu hồi", "Recall"},
	"doc.nohistory":      {"Chưa có diễn biến.", "Nothing yet."},
	"doc.published":      {"Đã chuyển vào hộp thư của nơi nhận (Kafka)", "Delivered to the recipient's inbox topic (Kafka)"},
	"doc.by":             {"bởi", "by"},
	"doc.axis":           {"Trục liên thông", "the axis"},
	"doc.revisions":      {"Chuỗi sửa đổi", "Revision chain"},
	"doc.signature":      {"Chữ ký số", "Digital signature"},
	"doc.legacy":         {"SHA-1 (thuật toán cũ, được chấp nhận theo --allow-sha1)", "SHA-1 (legacy algorithm, accepted under --allow-sha1)"},
	"doc.revises":        {"Gói tin này %s văn bản:", "This package %s the document:"},
	"doc.revisedby":      {"Các gói tin sau đó:", "Later packages:"},
	"doc.norevisions":    {"Văn bản chưa được thu hồi, cập nhật hay thay thế.", "The document has not been revoked, updated or replaced."},
	"doc.others":         {"Các gói tin khác cùng mã định danh", "Other packages under this document id"},
	"doc.receipt":        {"Biên nhận tiếp nhận (XML có chữ ký của trục)", "Acceptance receipt (XML signed by the axis)"},
	"doc.noreceipt":      {"Không có biên nhận.", "No receipt."},
	"doc.att.name":       {"Tên tệp", "File name"},
	"doc.att.type":       {"Kiểu", "Type"},
	"doc.att.desc":       {"Mô tả", "Description"},
	"doc.att.size":       {"Dung lượng", "Size"},
	"doc.badpackage":     {"Không đọc được nội dung gói tin đã lưu.", "The stored package could not be read."},
	"biz.0":              {"Văn bản mới", "New document"},
	"biz.1":              {"Thu hồi", "Revocation"},
	"biz.2":              {"Cập nhật", "Update"},
	"biz.3":              {"Thay thế", "Replacement"},
	"bizverb.1":          {"thu hồi", "revokes"},
	"bizverb.2":          {"cập nhật", "updates"},
	"bizverb.3":          {"thay thế", "replaces"},
	"state.pending":      {"Chờ chuyển", "Pending"},
	"state.published":    {"Đã chuyển", "Delivered"},
	"state.arrived":      {"Đã đến", "Arrived"},
	"state.rejected":     {"Từ chối", "Rejected"},
	"state.accepted":     {"Đã tiếp nhận", "Accepted"},
	"state.assigned":     {"Đã phân công", "Assigned"},
	"state.processing":   {"Đang xử lý", "Processing"},
	"state.completed":    {"Đã hoàn thành", "Completed"},
	"recall.requested":   {"Đề nghị thu hồi", "Recall requested"},
	"recall.agreed":      {"Đồng ý thu hồi", "Recall agreed"},
	"recall.refused":     {"Từ chối thu hồi", "Recall refused"},
	"code.01":            {"Đã đến (01)", "Arrived (01)"},
	"code.02":            {"Từ chối tiếp nhận (02)", "Rejected (02)"},
	"code.03":            {"Đã tiếp nhận (03)", "Accepted (03)"},
	"code.04":            {"Đã phân công (04)", "Assigned (04)"},
	"code.05":            {"Đang xử lý (05)", "Processing (05)"},
	"code.06":            {"Đã hoàn thành (06)", "Completed (06)"},
	"code.13":            {"Đề nghị thu hồi / cập nhật (13)", "Recall or update requested (13)"},
	"code.15":            {"Đồng ý thu hồi / cập nhật (15)", "Recall or update agreed (15)"},
	"code.16":            {"Từ chối thu hồi / cập nhật (16)", "Recall or update refused (16)"},
	"audit.title":        {"Nhật ký kiểm toán", "Audit log"},
	"audit.chain":        {"Kiểm tra chuỗi băm", "Hash chain verification"},
	"audit.ok":           {"Chuỗi toàn vẹn: %s sự kiện đã kiểm tra (đến sự kiện số %s).", "Chain intact: %s events verified (up to seq %s)."},
	"audit.broken":       {"Chuỗi bị phá vỡ tại sự kiện số %s (dòng %s): %s", "Chain broken at seq %s (line %s): %s"},
	"audit.sigs":         {"Chữ ký các điểm kiểm tra đã được xác minh.", "Checkpoint signatures were verified."},
	"audit.nosigs":       {"Chữ ký các điểm kiểm tra CHƯA được xác minh (không có bộ xác minh).", "Checkpoint signatures were NOT verified (no verifier)."},
	"audit.unattested":   {"%s sự kiện sau điểm kiểm tra cuối cùng chưa được chứng thực.", "%s events after the last checkpoint are not attested yet."},
	"audit.verifyfail":   {"Không kiểm tra được nhật ký.", "The log could not be verified."},
	"audit.pending":      {"Đang kiểm tra toàn bộ chuỗi băm; tải lại trang sau ít phút để xem kết quả.", "Verifying the whole hash chain; reload the page in a while for the result."},
	"audit.stale":        {"Kết quả trên là của lần kiểm tra trước; các sự kiện mới hơn đang được kiểm tra — tải lại trang để cập nhật.", "This is the result of the previous verification; newer events are being verified — reload the page to update."},
	"audit.checkpoints":  {"Điểm kiểm tra có chữ ký", "Signed checkpoints"},
	"audit.cp.count":     {"%s điểm kiểm tra; gần nhất được liệt kê trước.", "%s checkpoints; the most recent are listed first."},
	"audit.cp.attests":   {"Chứng thực đến sự kiện", "Attests up to seq"},
	"audit.none":         {"Không có sự kiện nào.", "No events."},
	"audit.events":       {"Sự kiện", "Events"},
	"audit.filter.doc":   {"Mã định danh văn bản", "Document id"},
	"audit.filter.ag":    {"Cơ quan", "Agency"},
	"audit.filter.from":  {"Từ sự kiện số", "From seq"},
	"audit.scanned":      {"Đã duyệt đến sự kiện số %s.", "Scanned up to seq %s."},
	"audit.scannedBack":  {"Mới nhất trước; đã duyệt ngược về sự kiện số %s.", "Newest first; scanned back to seq %s."},
	"audit.prev":         {"← Trước", "← Earlier"},
	"audit.next":         {"Sau →", "Later →"},
	"audit.latest":       {"Mới nhất", "Latest"},
	"col.seq":            {"Số", "Seq"},
	"col.time":           {"Thời gian", "Time"},
	"col.type":           {"Loại", "Type"},
	"col.doc":            {"Văn bản", "Document"},
	"col.detail":         {"Chi tiết", "Detail"},
	"ev.accepted":        {"Tiếp nhận", "Accepted"},
	"ev.rejected":        {"Từ chối", "Rejected"},
	"ev.published":       {"Đã chuyển", "Published"},
	"ev.status":          {"Trạng thái", "Status"},
	"ev.forwarded":       {"Chuyển trạng thái", "Forwarded"},
	"ev.recall":          {"Thu hồi", "Recall"},
	"ev.replay":          {"Phát lại", "Replay"},
	"ev.checkpoint":      {"Điểm kiểm tra", "Checkpoint"},
	"err.404":            {"Không tìm thấy trang hoặc văn bản.", "Page or document not found."},
	"err.400":            {"Yêu cầu không hợp lệ.", "Bad request."},
	"err.403":            {"Yêu cầu bị từ chối (kiểm tra bảo mật biểu mẫu). Hãy tải lại trang và thử lại.", "Request refused (form security check). Reload the page and try again."},
	"err.405":            {"Phương thức không được hỗ trợ.", "Method not allowed."},
	"err.500":            {"Đã có lỗi phía máy chủ. Vui lòng thử lại sau.", "Something went wrong on the server. Please try again later."},
	"err.503":            {"Dịch vụ tạm thời không sẵn sàng.", "The service is temporarily unavailable."},
	"err.title":          {"Lỗi", "Error"},
	"err.back":           {"Về trang chủ", "Back to the home page"},
	"unit.ms":            {"%s mili giây", "%s ms"},
	"unit.s":             {"%s giây", "%s s"},
	"unit.min":           {"%d phút %d giây", "%d min %d s"},
	"unit.h":             {"%d giờ %d phút", "%d h %d min"},
	"unit.bytes":         {"%s byte", "%s bytes"},
	"unit.kb":            {"%s KB", "%s KB"},
	"unit.mb":            {"%s MB", "%s MB"},
}

// T returns the message for key in l; a missing key shows as ⟦key⟧ so tests catch it.
func (l Lang) T(key string) string {
	m, ok := messages[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if l == En {
		return m[1]
	}
	return m[0]
}

// Tf formats the message for key with args.
func (l Lang) Tf(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

// Date formats t in Vietnam time: dd/MM/yyyy HH:mm in Vietnamese, "22 Nov 2026 08:00" in English.
func (l Lang) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if l == En {
		return t.In(vietnam).Format("02 Jan 2006 15:04")
	}
	return t.In(vietnam).Format("02/01/2006 15:04")
}

// DateSec is Date with seconds (timelines and audit events, where order within a minute matters).
func (l Lang) DateSec(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if l == En {
		return t.In(vietnam).Format("02 Jan 2006 15:04:05")
	}
	return t.In(vietnam).Format("02/01/2006 15:04:05")
}

// Day formats a YYYY-MM-DD day for the chart axis.
func (l Lang) Day(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return day
	}
	if l == En {
		return t.Format("2 Jan")
	}
	return t.Format("02/01")
}

// Num formats an integer with the language's thousands separator (vi "100.000", en "100,000").
func (l Lang) Num(n uint64) string {
	s := strconv.FormatUint(n, 10)
	sep := "."
	if l == En {
		sep = ","
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// decimal formats x with one decimal, using the language's decimal mark.
func (l Lang) decimal(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if l == Vi {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Duration is a short human duration.
func (l Lang) Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return l.Tf("unit.ms", l.decimal(float64(d)/float64(time.Millisecond)))
	case d < time.Minute:
		return l.Tf("unit.s", l.decimal(d.Seconds()))
	case d < time.Hour:
		s := int(d.Round(time.Second) / time.Second)
		return l.Tf("unit.min", s/60, s%60)
	default:
		m := int(d.Round(time.Minute) / time.Minute)
		return l.Tf("unit.h", m/60, m%60)
	}
}

// Size is a byte count for people.
func (l Lang) Size(n int64) string {
	switch {
	case n < 0:
		return "?"
	case n < 1024:
		return l.Tf("unit.bytes", l.Num(uint64(n)))
	case n < 1<<20:
		return l.Tf("unit.kb", l.decimal(float64(n)/1024))
	default:
		return l.Tf("unit.mb", l.decimal(float64(n)/(1<<20)))
	}
}
