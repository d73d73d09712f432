---@meta featurebase.types.objects
--- featurebase.types.objects: what the API answers, as LuaLS classes (editor completion only).
--
-- A definition file: never required, nothing in it runs. LuaLS reads it when the plugin's or the
-- rocks tree's `lua/` folder is in its workspace library (Neovim: lazydev.nvim or neodev.nvim add
-- installed plugins' `lua/` by themselves; elsewhere `"workspace.library"` in `.luarc.json`).
-- Written by hand from the API cards (../shared/api: create-conversation.txt for the conversation
-- and its 17 part types, contacts.md, conversations-more.md, common.md). The request side (every
-- params class, the options, the client's methods) is generated from `core.api` into
-- featurebase/types/api.lua by scripts/gen-types.lua.
--
-- JSON null: the C core drops null fields from what it decodes, so a field the API may send as
-- null is simply absent (`T|nil` below); arrays close up.
-- New API versions may add fields: a table can hold more keys than its class lists.
-- @module featurebase.types.objects

---@alias featurebase.Null lightuserdata `featurebase.null`: JSON null in params, where the API allows it

---@alias featurebase.ParticipantType "customer"|"lead"|"admin"|"bot"|"guest"|"integration"
---@alias featurebase.UserType "admin"|"customer"|"lead"
---@alias featurebase.PartChannel "unknown"|"desktop"|"android"|"ios"|"email"
---@alias featurebase.State "open"|"closed"|"snoozed"
---@alias featurebase.TagActorType "admin"|"customer"|"lead"|"bot"|"integration"|"system"|"workflow"
---@alias featurebase.CsatStatus "pending"|"rated"|"canceled"|"expired"

-- Errors and response information ---------------------------------------------------------------

---@class featurebase.Error
---@field kind "invalid_request"|"http"|"network"|"timeout"|"decode"|"io"
---@field message string one line, never the API key
---@field field? string path of the bad field, e.g. "recipients.cc.emails[2]" (invalid_request)
---@field status? integer HTTP status (http, decode)
---@field body? table|string the decoded error body, or the raw body when it is not JSON
---@field headers? table<string,string> response headers, lowercased names
---@field request_id? string the server's request id, when it sent one
---@field rate_limit? featurebase.RateLimit the rate-limit headers, when an answer came
---@field code? string Featurebase error code, e.g. "validation_error"
---@field error_type? string Featurebase error type, e.g. "invalid_request_error"
---@field param? string the parameter the server blamed
---@field curl_code? integer libcurl's error code (network, timeout)
---@field limit? "max_response_size"|"stall_timeout" the limit that ended the transfer (network, timeout)
---@field request_sent? boolean false when the request certainly never reached the server (network, timeout)
---@field attempts? integer how many attempts were made (absent: refused before sending)

---@class featurebase.ErrorBody the API's error envelope (err.body of an http error)
---@field error? {type: string, code: string, message: string, param?: string, status: integer, details?: {path: string, message: string}[]}
---@field message? string the flat shape some servers send instead: {"message": ...}

---@class featurebase.Response
---@field status integer HTTP status
---@field headers table<string,string> response headers, lowercased names
---@field request_id? string
---@field rate_limit featurebase.RateLimit
---@field attempts integer how many attempts the call made
---@field deleted_before? boolean a retried DELETE answered 404: an earlier attempt did it (the value says deleted)

---@class featurebase.RateLimit
---@field limit? integer requests allowed per window (X-RateLimit-Limit)
---@field remaining? integer requests left in the window (X-RateLimit-Remaining)
---@field reset? integer when the window resets, Unix seconds (X-RateLimit-Reset)

---@class featurebase.LogEvent
---@field method string "POST"
---@field path string e.g. "/v2/conversations"
---@field attempt integer 1 for the first
---@field ms number how long the attempt took, milliseconds
---@field status? integer the HTTP status, when an answer came
---@field kind? string the error kind, when the attempt failed
---@field request_id? string
---@field retry_in? number seconds until the next attempt, when there is one
---@field gave_up? string why a failure is not retried

-- Lists and small objects -------------------------------------------------------------------------

---@class featurebase.ConversationList
---@field object "list"
---@field data featurebase.Conversation[] without conversationParts
---@field nextCursor? string the next page's cursor; absent (null) on the last page

---@class featurebase.ContactList
---@field object "list"
---@field data featurebase.Contact[]
---@field nextCursor? string the next page's cursor; absent (null) on the last page

---@class featurebase.Deleted
---@field object "conversation"|"contact"
---@field id? string absent only when a retried delete by user id found the contact already gone
---@field deleted true

---@class featurebase.ConversationTag
---@field id string tag ObjectId
---@field name string the tag's current name
---@field type "tag"

---@class featurebase.Tag what add_tag and remove_tag answer
---@field type "tag"
---@field id string tag ObjectId
---@field name string
---@field targetPartId? string
---@field appliedAt? string ISO 8601
---@field appliedBy? featurebase.TagActor|string an actor as in tagApplications (the card leaves its shape open: an id is accepted too)
---@field removedAt? string ISO 8601
---@field removedBy? featurebase.TagActor|string

---@class featurebase.TagActor who applied or removed a tag
---@field type featurebase.TagActorType
---@field id? string
---@field name? string

---@class featurebase.TagApplication a tag applied to one part, and its history
---@field appliedAt string ISO 8601
---@field tagId string
---@field appliedBy? featurebase.TagActor
---@field removedAt? string ISO 8601, when it was removed
---@field removedBy? featurebase.TagActor
---@field tag? featurebase.ConversationTag the tag, while it still exists

---@class featurebase.Participant
---@field id string
---@field type featurebase.ParticipantType

---@class featurebase.PartAuthor
---@field id string
---@field type featurebase.ParticipantType
---@field email? string
---@field name? string
---@field profilePicture? string URL

---@class featurebase.ReadReceipt
---@field id string the user's id
---@field lastReadPartId string the last part this user has read (may be one they cannot see)
---@field userType featurebase.UserType

---@class featurebase.ConversationSource the first message
---@field bodyHtml string HTML with signed image URLs
---@field bodyMarkdown string
---@field channel featurebase.PartChannel
---@field author? featurebase.Participant
---@field deliveredAs? "customer_initiated"|"admin_initiated"
---@field subject? string email conversations
---@field url? string where the conversation was started

-- CSAT ------------------------------------------------------------------------------------------

---@class featurebase.CsatRatedAgent
---@field type "teammate"|"fibi"|"chatbot"
---@field id? string

---@class featurebase.CsatWorkflowLink
---@field workflowActionId? string
---@field workflowId? string
---@field workflowRunId? string
---@field workflowStepId? string

---@class featurebase.CsatEmailDelivery
---@field status "pending"|"sent"|"failed"
---@field failedAt? string ISO 8601
---@field failureReason? string
---@field messageId? string
---@field sentAt? string ISO 8601

---@class featurebase.CsatSummary
---@field lastUpdatedAt string ISO 8601
---@field status featurebase.CsatStatus
---@field canceledAt? string
---@field channel? "desktop"|"email"
---@field expiredAt? string
---@field ratedAgent? featurebase.CsatRatedAgent
---@field ratedAt? string
---@field remark? string
---@field requestedAt? string
---@field requestId? string
---@field requestSource? "workflow"
---@field score? number 1-5
---@field workflow? featurebase.CsatWorkflowLink

---@class featurebase.CsatRequest one of csatHistory, newest first
---@field channel "desktop"|"email"
---@field isLatestEffective boolean
---@field lastUpdatedAt string
---@field requestedAt string
---@field requestId string
---@field requestSource "workflow"
---@field status featurebase.CsatStatus
---@field canceledAt? string
---@field changeLockWindowEndsAt? string
---@field emailDelivery? featurebase.CsatEmailDelivery
---@field expiredAt? string
---@field lateSubmitWindowEndsAt? string
---@field ratedAgent? featurebase.CsatRatedAgent
---@field ratedAt? string
---@field remark? string
---@field score? number 1-5
---@field workflow? featurebase.CsatWorkflowLink

---@class featurebase.CsatDebug
---@field requestId string
---@field status featurebase.CsatStatus
---@field changeLockWindowEndsAt? string
---@field emailDelivery? featurebase.CsatEmailDelivery
---@field lateSubmitWindowEndsAt? string

-- The conversation --------------------------------------------------------------------------------

---@class featurebase.Conversation
---@field object "conversation"
---@field id string 1-16 letters and digits
---@field state featurebase.State
---@field priority boolean
---@field prioritySetAt string|nil ISO 8601; absent when null
---@field adminAssigneeId string|nil the assigned admin; absent when unassigned (null)
---@field teamAssigneeId string|nil the assigned team; absent when unassigned (null)
---@field brandId string|nil
---@field isBlocked boolean whether the user is blocked
---@field userPreferredLanguage string
---@field hasAdminOverriddenLanguage boolean
---@field participants featurebase.Participant[]
---@field tags featurebase.ConversationTag[] the tags applied anywhere in the conversation
---@field botConversationStateLastUpdatedAt string|nil ISO 8601
---@field lastActivityAt string|nil ISO 8601
---@field waitingSince string|nil ISO 8601
---@field snoozedUntil string|nil ISO 8601, while snoozed
---@field createdAt string ISO 8601
---@field updatedAt string ISO 8601
---@field title? string
---@field source? featurebase.ConversationSource the first message
---@field botConversationState? "active"|"handed_off_to_human"|"resolved"
---@field disableCustomerReply? boolean
---@field awaitingCustomerReply? boolean
---@field readReceipts? featurebase.ReadReceipt[]
---@field csatSummary? featurebase.CsatSummary
---@field csatHistory? featurebase.CsatRequest[]
---@field csatDebug? featurebase.CsatDebug
---@field conversationParts? featurebase.ConversationPart[] only from get_conversation (the latest 500) and redact_part

-- The 17 part types (conversation.conversationParts[i], and what reply answers) -------------------

---@alias featurebase.ConversationPart
---| featurebase.UserMsgPart
---| featurebase.AdminMsgPart
---| featurebase.AdminNotePart
---| featurebase.EmailMsgPart
---| featurebase.BotMsgPart
---| featurebase.QuickReplyOptsPart
---| featurebase.QuickReplyRespPart
---| featurebase.RatingRequestedPart
---| featurebase.RatingSubmittedPart
---| featurebase.AttrPromptPart
---| featurebase.AttrCompletePart
---| featurebase.AssignPart
---| featurebase.StatusPart
---| featurebase.TagsPart
---| featurebase.WorkflowWaitPart
---| featurebase.PriorityPart
---| featurebase.PartAddPart

---@class featurebase.PartBase the fields every part has
---@field object "conversation_part"
---@field id string 1-16 letters and digits
---@field createdAt string ISO 8601
---@field updatedAt string ISO 8601

---@class featurebase.AuthoredPart: featurebase.PartBase
---@field author? featurebase.PartAuthor
---@field redacted? boolean the text was wiped (redact_part)
---@field tagApplications? featurebase.TagApplication[]

---@class featurebase.UserMsgPart: featurebase.AuthoredPart a customer's or lead's message
---@field partType "user_msg"
---@field bodyHtml string HTML with signed image URLs
---@field bodyMarkdown string
---@field channel featurebase.PartChannel

---@class featurebase.AdminMsgPart: featurebase.AuthoredPart an admin's reply
---@field partType "admin_msg"
---@field bodyHtml string
---@field bodyMarkdown string
---@field channel featurebase.PartChannel

---@class featurebase.AdminNotePart: featurebase.AuthoredPart an internal note, only admins see it
---@field partType "admin_note"
---@field bodyHtml string
---@field bodyMarkdown string

---@class featurebase.EmailMsgPart: featurebase.AuthoredPart
---@field partType "email_msg"
---@field bodyHtml string
---@field bodyMarkdown string
---@field channel "email"

---@class featurebase.BotMsgPart: featurebase.AuthoredPart
---@field partType "bot_msg"
---@field bodyHtml string
---@field bodyMarkdown string
---@field channel? featurebase.PartChannel

---@class featurebase.QuickReplyOptsPart: featurebase.AuthoredPart options offered to the user
---@field partType "quick_reply_opts"
---@field replyOptions {id: string, text: string}[]

---@class featurebase.QuickReplyRespPart: featurebase.AuthoredPart the option the user chose
---@field partType "quick_reply_resp"
---@field bodyHtml string
---@field bodyMarkdown string
---@field selectedOptionId string

---@class featurebase.CsatRequestPayload
---@field channel "desktop"|"email"
---@field requestedAt string
---@field requestId string
---@field requestSource "workflow"
---@field status featurebase.CsatStatus
---@field changeLockWindowEndsAt? string
---@field expiredAt? string
---@field lateSubmitWindowEndsAt? string
---@field ratedAgent? featurebase.CsatRatedAgent
---@field workflow? featurebase.CsatWorkflowLink

---@class featurebase.CsatSubmissionPayload
---@field channel "desktop"|"email"
---@field ratedAt string
---@field requestId string
---@field requestSource "workflow"
---@field score number 1-5
---@field status "rated"
---@field ratedAgent? featurebase.CsatRatedAgent
---@field remark? string
---@field requestedAt? string
---@field workflow? featurebase.CsatWorkflowLink

---@class featurebase.RatingRequestedPart: featurebase.PartBase a CSAT request
---@field partType "rating_requested"
---@field csat featurebase.CsatRequestPayload

---@class featurebase.RatingSubmittedPart: featurebase.PartBase a CSAT rating
---@field partType "rating_submitted"
---@field csat featurebase.CsatSubmissionPayload

---@class featurebase.AttrPromptPart: featurebase.AuthoredPart a form asking the user for attributes
---@field partType "attr_prompt"
---@field form {id: string, attributes: {identifier: string, name: string, type: string}[]}

---@class featurebase.AttrCompletePart: featurebase.PartBase
---@field partType "attr_complete"

---@class featurebase.AssignPart: featurebase.PartBase
---@field partType "assign"
---@field adminAssigneeId? string
---@field adminAssignerId? string
---@field teamAssigneeId? string

---@class featurebase.StatusPart: featurebase.PartBase
---@field partType "status"
---@field status featurebase.State
---@field snoozedUntil? string ISO 8601

---@class featurebase.TagsPart: featurebase.PartBase a tag added or removed
---@field partType "tags"
---@field action "added"|"removed"
---@field occurredAt string ISO 8601
---@field tagId string
---@field actor? featurebase.TagActor
---@field tagName? string
---@field targetPartId? string

---@class featurebase.WorkflowWaitPart: featurebase.PartBase
---@field partType "workflow_wait"
---@field workflowWait {eventType: "started"|"finished"|"interrupted", occurredAt: string, interruptedByUserType?: featurebase.UserType, waitLabel?: string, workflowId?: string, workflowName?: string}

---@class featurebase.PriorityPart: featurebase.PartBase
---@field partType "priority"
---@field isPriority boolean

---@class featurebase.PartAddPart: featurebase.PartBase a participant joined
---@field partType "part_add"
---@field participant {id: string, type: featurebase.UserType}

-- Contacts ----------------------------------------------------------------------------------------

---@class featurebase.Contact
---@field object "contact"
---@field id string ObjectId
---@field name string
---@field type "customer"|"lead"
---@field userId? string your own user id
---@field organizationId? string
---@field email string|nil
---@field profilePicture string|nil URL
---@field companies? featurebase.Company[]
---@field commentsCreated? number
---@field postsCreated? number
---@field lastActivity? string ISO 8601
---@field subscribedToChangelog? boolean
---@field manuallyOptedOutFromChangelog? boolean
---@field verified? boolean the email is verified
---@field roles? string[]
---@field locale? string
---@field description? string
---@field customFields? table<string, any>

---@class featurebase.Company a contact's company (null is accepted on every field but id, object and name)
---@field object "company"
---@field id string Featurebase id
---@field name string
---@field companyId string|nil your own company id
---@field companySize number|nil
---@field createdAt string|nil
---@field industry string|nil
---@field lastActivity string|nil
---@field linkedUsers number|nil
---@field monthlySpend number|nil
---@field plan string|nil
---@field updatedAt string|nil
---@field website string|nil
---@field customFields? table<string, any>
