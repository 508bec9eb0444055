{#-
  One row per change (`change_id`), whatever the loader: the columns found in any case, cast
  to one type each, named in snake_case; the copies an append-only or file load holds of a
  change (the same `id`, the same content) kept once. The server's words become the models'
  few values here, by the rules of macros/lp_audittrail_rules.sql: the action (add, edit,
  delete, other) beside the actionType as sent, whether the change is to one property, and
  who made it (a person, a LivePerson administrator, or an automatic update).
-#}
{%- set relation = source('lp_audittrail', 'audit_trail') -%}
{%- set columns = lp_audittrail_source_columns(relation) -%}
{%- set text = dbt.type_string() -%}

with loaded as (

    select
        {{ lp_audittrail_column(columns, 'id', text) }} as change_id,
        {{ lp_audittrail_column(columns, 'accountId', text) }} as account_id,
        {{ lp_audittrail_column(columns, 'objectType', text) }} as object_type,
        {{ lp_audittrail_column(columns, 'objectName', text) }} as object_name,
        {{ lp_audittrail_column(columns, 'actionType', text) }} as action_type,
        {{ lp_audittrail_column(columns, 'element', text) }} as element,
        {{ lp_audittrail_column(columns, 'oldValue', text) }} as old_value,
        {{ lp_audittrail_column(columns, 'newValue', text) }} as new_value,
        {{ lp_audittrail_utc_timestamp(columns, 'changeDate') }} as changed_at,
        {{ lp_audittrail_column(columns, 'originator', text) }} as originator,
        {{ lp_audittrail_column(columns, 'originatorLoginName', text) }} as originator_login_name,
        {{ lp_audittrail_column(columns, 'originatorUserId', text) }} as originator_user_id,
        {{ lp_audittrail_column(columns, 'originatorUserAgent', text) }} as originator_user_agent,
        {{ lp_audittrail_column(columns, 'originatorAuthType', text) }} as originator_auth_type,
        {{ lp_audittrail_column(columns, 'originatorIsLpa', dbt.type_boolean()) }} as originator_is_lpa
    from {{ relation }}

),

numbered as (

    select
        loaded.*,
        row_number() over (partition by change_id order by changed_at) as copy_number
    from loaded

),

kept as (

    select
        change_id,
        account_id,
        object_type,
        {{ lp_audittrail_audited_element('object_type') }} as audited_element,
        object_name,
        {{ lp_audittrail_action('action_type') }} as action,
        action_type,
        element,
        {{ lp_audittrail_is_field_change('element') }} as is_field_change,
        old_value,
        new_value,
        changed_at,
        cast(changed_at as date) as changed_on,
        originator,
        originator_login_name,
        originator_user_id,
        originator_user_agent,
        originator_auth_type,
        coalesce(originator_is_lpa, false) as originator_is_lpa,
        {{ lp_audittrail_is_automatic() }} as is_automatic
    from numbered
    where copy_number = 1

)

select
    change_id,
    account_id,
    object_type,
    audited_element,
    object_name,
    action,
    action_type,
    element,
    is_field_change,
    action = 'delete' and not is_field_change as is_object_deletion,
    old_value,
    new_value,
    changed_at,
    changed_on,
    originator,
    originator_login_name,
    originator_user_id,
    originator_user_agent,
    originator_auth_type,
    originator_is_lpa,
    is_automatic,
    case
        when is_automatic then 'automatic'
        when originator_is_lpa then 'lpa'
        else 'person'
    end as originator_kind
from kept
