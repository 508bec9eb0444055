{#-
  The value of every property of every object as of the newest change loaded: the property's
  latest change, in the one order of all models (change_order), unless that change deleted the
  property or the object was deleted as a whole after it; then the property has no value
  (is_deleted). Its non-deleted rows are the current rows of lp_audittrail__property_history,
  and a test holds them to it. An object renamed is one object, under its name now.
-#}

with changes as (

    select * from {{ ref('int_lp_audittrail__object_changes') }}
    where is_field_change

),

counted as (

    select
        object_id,
        element,
        count(*) as change_count,
        min(changed_at) as first_changed_at
    from changes
    group by object_id, element

),

newest as (

    select max(changed_at) as as_of from {{ ref('int_lp_audittrail__ordered_changes') }}

),

-- the property's latest change: none of the property's changes comes after it
latest as (

    select
        changes.*,
        counted.change_count,
        counted.first_changed_at,
        changes.action = 'delete' or changes.next_object_deletion_order is not null as is_deleted
    from changes
    inner join counted
        on counted.object_id = changes.object_id
        and counted.element = changes.element
    where changes.next_property_change_order is null

)

select
    {{ lp_audittrail_key(['latest.object_id', 'latest.element']) }} as current_value_id,
    latest.object_id,
    latest.object_type,
    latest.audited_element,
    latest.current_object_name as object_name,
    latest.element,
    case when latest.is_deleted then null else latest.new_value end as current_value,
    latest.is_deleted,
    case
        when latest.action = 'delete' then latest.changed_at
        else latest.next_object_deletion_at
    end as deleted_at,
    latest.next_object_deletion_at as object_deleted_at,
    latest.old_value as previous_value,
    latest.change_id as last_change_id,
    latest.action as last_action,
    latest.action_type as last_action_type,
    latest.changed_at as last_changed_at,
    latest.originator as last_changed_by,
    latest.originator_login_name as last_changed_by_login_name,
    latest.originator_kind as last_originator_kind,
    latest.property_changes_in_second > 1 or latest.object_deletions_in_second > 0 as is_tied,
    latest.first_changed_at,
    latest.change_count,
    newest.as_of
from latest
cross join newest
